# Model-based test of flows: random valid flows and random sequences of
# user transactions (launches, writes of the flow's rows, payments,
# suspend/resume, disable/enable, terminate) are played against the server
# and against a reference interpreter written from the contract
# (test/model/FlowModel.pm); after each transaction the instances, their
# activities, the rows the actions logged and the entity rows must be the
# same.  A mismatch is shrunk to a small case, printed as runnable SQL with
# what the model expected and what the server did.  See test/model/README.md.
#
# Two servers: one without executors, where the test calls
# procflow.run_jobs() until it returns 0 after each transaction, and one
# whose executors serve the database, where the test polls until no job
# that can run is left.
#
# Environment: PROCFLOW_MODEL_SEED (default 20261204), PROCFLOW_MODEL_CASES
# (cases on the first server, default 500), PROCFLOW_MODEL_LIVE_CASES
# (default 60), PROCFLOW_MODEL_SECONDS (stop starting cases after this long;
# default 150, or none when PROCFLOW_MODEL_CASES is set), PROCFLOW_MODEL_SHRINK
# (mismatches shrunk, default 2), PROCFLOW_MODEL_SHRINK_SECONDS (default 40),
# PROCFLOW_MODEL_WORKERS (executors of the second server, default 1),
# PROCFLOW_MODEL_ONLY ("det:17" or "live:5": that case only).
use strict;
use warnings;
use FindBin;
use lib "$FindBin::RealBin/../model";
use File::Path qw(make_path);
use Time::HiRes qw(time);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;
use FlowRunner;

my $seed = $ENV{PROCFLOW_MODEL_SEED} // 20261204;
my $det_cases = $ENV{PROCFLOW_MODEL_CASES} // 500;
my $live_cases = $ENV{PROCFLOW_MODEL_LIVE_CASES} // ($ENV{PROCFLOW_MODEL_CASES} ? int($det_cases / 8) + 1 : 60);
my $seconds = $ENV{PROCFLOW_MODEL_SECONDS} // (defined $ENV{PROCFLOW_MODEL_CASES} ? 0 : 150);
my $shrink = $ENV{PROCFLOW_MODEL_SHRINK} // 2;
my $shrink_seconds = $ENV{PROCFLOW_MODEL_SHRINK_SECONDS} // 40;
my $workers = $ENV{PROCFLOW_MODEL_WORKERS} // 1;
my ($only_mode, $only_case) = split /:/, ($ENV{PROCFLOW_MODEL_ONLY} // '');
my $outdir = "$PostgreSQL::Test::Utils::tmp_check/model_cases";
make_path($outdir);

my $t0 = time;
my $deadline = $seconds ? $t0 + $seconds : undef;
note("seed $seed; cases: $det_cases without executors, $live_cases with $workers executor(s)"
	  . ($seconds ? "; no new case after ${seconds}s" : ''));

my %shrunk = (n => 0);
my @bad;

sub run_mode
{
	my ($node, $mode, $count, $first) = @_;
	my $sess = FlowRunner::Psql->new(psql => $node->installed_command('psql'), connstr => $node->connstr('postgres'));
	my @idx = defined $only_case ? ($only_mode eq $mode ? ($only_case) : ()) : ($first .. $first + $count - 1);
	my ($ran, $started) = (0, time);
	FlowRunner::run_suite(
		session        => $sess,
		mode           => $mode,
		seed           => $seed,
		indexes        => \@idx,
		deadline       => $deadline,
		shrink         => $shrink - $shrunk{n},
		shrink_seconds => $shrink_seconds,
		cb             => sub {
			my ($i, $pass, $text) = @_;
			$ran++;
			$shrunk{n}++ if $text =~ /^shrunk with/m;
			ok($pass, "$mode case $i");
			return if $pass;
			my $file = "$outdir/$mode-$i.sql";
			open my $fh, '>', $file or die "$file: $!";
			print $fh $text;
			close $fh;
			diag("$text\n(written to $file; play it again with PROCFLOW_MODEL_SEED=$seed PROCFLOW_MODEL_ONLY=$mode:$i)");
			push @bad, "$mode:$i";
		});
	$sess->quit;
	note(sprintf('%s: %d cases in %.1fs', $mode, $ran, time - $started));
	return $ran;
}

# 1. no executor: the test runs the jobs
my $det = procflow_node('model_det', '', conf => "procflow.retry_delay = 0\n");
$det->start;
$det->safe_psql('postgres', 'CREATE EXTENSION procflow');
my $ran = run_mode($det, 'det', $det_cases, 1);
engine_rows_hold($det, 'postgres', 'the model, its jobs run by the test');
$det->stop;

# 2. executors serve the database; a step that would spin is cut by max_timeout
my $live = procflow_node('model_live', 'postgres', conf => qq{
procflow.workers = $workers
procflow.retry_delay = 10
procflow.max_timeout = 5000
});
$live->start;
$live->safe_psql('postgres', 'CREATE EXTENSION procflow');
wait_until($live, "SELECT count(*) = $workers FROM pg_stat_activity WHERE backend_type = 'procflow executor'",
	'executors started');
# other case numbers than the first server's: other flows and sequences
$ran += run_mode($live, 'live', $live_cases, 100001);
engine_rows_hold($live, 'postgres', 'the model, run by executors');
$live->stop;

ok($ran > 0, 'some cases ran');
note(sprintf('%d cases in %.1fs; mismatches: %s', $ran, time - $t0, @bad ? join(' ', @bad) : 'none'));
done_testing();
