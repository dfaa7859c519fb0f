# Makefile for procflow (PGXS)

EXTENSION = procflow
MODULE_big = procflow
OBJS = \
	src/procflow.o \
	src/shmem.o \
	src/catalog.o \
	src/cache.o \
	src/action.o \
	src/capture.o \
	src/collect.o \
	src/batch.o \
	src/direct_insert.o \
	src/queue.o \
	src/rotation.o \
	src/cron.o \
	src/scheduler.o \
	src/executor_worker.o \
	src/launcher.o \
	src/process_api.o \
	src/flow_definition.o \
	src/flow_picture.o \
	src/flow_api.o \
	src/flow_store.o \
	src/history.o \
	src/own_triggers.o \
	src/flow_version.o \
	src/flow_step.o \
	src/flow_jobs.o \
	src/flow_follow.o \
	src/flow_run.o \
	src/flow_control.o \
	src/flow_delivery.o \
	src/instance_api.o \
	src/task_api.o \
	src/task_form.o \
	src/json_doc.o \
	src/settings.o \
	src/capture_triggers.o \
	src/job_api.o \
	src/api.o \
	src/entity.o \
	src/runner.o \
	src/identity.o \
	src/value_text.o \
	src/stored_row.o \
	src/inflight.o \
	src/truncate.o \
	src/utility_hook.o \
	src/database_list.o \
	src/ddl.o \
	src/job_state.o \
	src/action_limits.o \
	src/job_deadline.o \
	src/subxact.o \
	src/wakeup.o

DATA = $(wildcard sql/procflow--*.sql)
PGFILEDESC = "procflow - business processes inside PostgreSQL"

# -Wunused-parameter: PostgreSQL's own headers and callback signatures trip it
PG_CFLAGS = -Wall -Wextra -Wno-unused-parameter

# pg_regress: deterministic SQL output, on a temporary instance that
# preloads the library (no executors there, so output does not race them).
REGRESS = $(patsubst test/sql/%.sql,%,$(sort $(wildcard test/sql/*.sql)))
REGRESS_OPTS = --inputdir=test --load-extension=$(EXTENSION) \
	--temp-config=test/procflow.conf --temp-instance=tmp_check

# Isolation tests: concurrent claims and per-row ordering.
ISOLATION = $(patsubst test/specs/%.spec,%,$(sort $(wildcard test/specs/*.spec)))
ISOLATION_OPTS = --inputdir=test --load-extension=$(EXTENSION) \
	--temp-config=test/procflow.conf --temp-instance=tmp_check_iso

# Perl TAP tests with PostgreSQL::Test::Cluster: workers, crashes, standbys.
TAP_TESTS = 1
PROVE_TESTS = test/t/*.pl

PG_CONFIG ?= pg_config
PGXS := $(shell $(PG_CONFIG) --pgxs)
include $(PGXS)

# after PGXS, which sets PROVE_FLAGS empty: the tests' shared Perl helpers
PROVE_FLAGS += -I test/perl

# pgTAP suites, run with pg_prove against a throwaway cluster.
.PHONY: pgtap test bench
pgtap:
	test/pgtap/run

# The whole suite: regression, isolation, Perl TAP and pgTAP.
test: installcheck pgtap

# Rebuild every object when a header changes (PGXS tracks no dependencies).
$(OBJS): $(wildcard src/*.h)

# Benchmarks side by side with PgQ and hand-written triggers (bench/RESULTS.md).
bench:
	bench/run
