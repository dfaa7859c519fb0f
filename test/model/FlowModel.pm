# A reference interpreter of procflow's flow semantics, written from the
# contract (FLOWS.md v0.5, "Events, precisely"), docs/flows.md ("As if
# every step ran at once", "Kept events") and the decisions listed in
# test/model/README.md, independently of the implementation.
#
# It plays a case -- flows (as compiled by FlowGen) and a list of user
# transactions -- and returns, after each transaction, the SQLSTATE the
# transaction should fail with (or undef) and a snapshot of what the
# database should show once all due work has run: the instances, their
# activities, the rows of "log" and of "item".
#
# Copyright (c) 2026, procflow developers
package FlowModel;

use strict;
use warnings;
no warnings "recursion";
use Storable qw(dclone);
use FlowGen;

# How many waits an instance may close at once, with no event taken in
# between, before the next one fails instead ("an instance never spins").
our $SPIN_LIMIT = 100;

# A case whose play the model refuses to judge (two instances for one row
# of one flow, ...): shrinking skips such candidates, generation avoids them.
package FlowModel::Invalid { sub new { my ($c, $m) = @_; bless { msg => $m }, $c } }

package FlowModel;

sub new
{
	my ($class, $case, %o) = @_;
	my $self = bless {
		case      => $case,
		mode      => $o{mode} // 'det',
		flows     => [],
		rows      => {},     # item id => {id, status, n, flag}
		payments  => {},     # payment id => {id, item_id, amount}
		instances => [],     # in launch order
		logs      => [],
		queue     => [],     # jobs in creation order: {type => step|event|kept, ...}
		pos       => 0,      # position of the last thing that happened (event, launch, wait begun)
		ord       => 0,      # creation order of jobs
		trace     => [],
	}, $class;
	for my $f (@{ $case->{flows} })
	{
		my $c = FlowGen::compile_flow($f);
		push @{ $self->{flows} }, {
			name     => $f->{name},
			acts     => $c->{acts},
			start    => $c->{start},
			preds    => $c->{preds},
			trigger  => $f->{trigger} ? 1 : 0,
			disabled => 0,
		};
	}
	return $self;
}

sub invalid { die FlowModel::Invalid->new($_[1]) }

# what a case exercised, for tuning the generator
our %STATS;
sub stat { $STATS{ $_[1] }++ }

sub iname { my ($self, $inst) = @_; return "$self->{flows}[ $inst->{flow} ]{name} $inst->{key}" }

sub evname
{
	my ($self, $ev) = @_;
	return "$ev->{table} $ev->{kind} #$ev->{pos}"
	  . (defined $ev->{src} ? ' (written by ' . $self->iname($self->{instances}[ $ev->{src} ]) . ')' : '');
}

sub note
{
	my ($self, $msg) = @_;
	push @{ $self->{trace} }, $msg if $self->{tracing};
}

# ---------------------------------------------------------------------------
# Playing a case

# Plays every transaction; returns [{err, snap}, ...] or dies with
# FlowModel::Invalid.
sub play
{
	my ($self) = @_;
	my @out;
	for my $txn (@{ $self->{case}{txns} })
	{
		push @out, $self->play_txn($txn);
	}
	return \@out;
}

sub play_txn
{
	my ($self, $txn) = @_;
	# one dclone, so that the queue's jobs keep pointing at the instances
	my $saved = dclone({ map { $_ => $self->{$_} } qw(flows rows payments instances logs queue pos ord) });
	my $err;
	{
		local $self->{in_txn} = [];
		for my $st (@$txn)
		{
			$err = $self->statement($st);
			last if defined $err;
		}
		# at commit: an instance held now keeps the transaction's events
		$self->keep_if_held($_) for defined $err ? () : @{ $self->{in_txn} };
	}
	# a failed transaction leaves nothing; the jobs run after it all the same
	$self->{$_} = $saved->{$_} for defined $err ? keys %$saved : ();
	$self->drain unless $self->{mode} ne 'live' && grep { $_->[0] eq 'nodrain' } @$txn;
	return { err => $err, snap => $self->snapshot };
}

# One user statement; returns an SQLSTATE on error.
sub statement
{
	my ($self, $st) = @_;
	my ($op, @a) = @$st;
	return undef if $op eq 'nodrain';    # no SQL: the test runs no job after this transaction
	if ($op eq 'insert')
	{
		my ($id, $vals) = @a;
		return '23505' if $self->{rows}{$id};
		my $row = { id => $id, %$vals };
		$self->{rows}{$id} = $row;
		$self->event('item', 'create', { %$row }, undef);
		for my $fi (0 .. $#{ $self->{flows} })
		{
			my $f = $self->{flows}[$fi];
			next unless $f->{trigger} && !$f->{disabled};
			$self->launch($fi, $id);
		}
		return undef;
	}
	if ($op eq 'update')
	{
		my ($ids, $sets) = @a;
		for my $id (@$ids)
		{
			my $row = $self->{rows}{$id} or next;
			my %old = %$row;
			apply_sets($row, $sets);
			$self->event('item', 'update', { %$row }, \%old);
		}
		return undef;
	}
	if ($op eq 'delete')
	{
		my ($id) = @a;
		my $row = delete $self->{rows}{$id} or return undef;
		$self->event('item', 'delete', { %$row }, { %$row });
		return undef;
	}
	if ($op eq 'pay')
	{
		my ($pid, $item, $amount) = @a;
		return '23505' if $self->{payments}{$pid};
		my $p = { id => $pid, item_id => $item, amount => $amount };
		$self->{payments}{$pid} = $p;
		$self->event('payment', 'create', { %$p }, undef);
		return undef;
	}
	if ($op eq 'pays')
	{
		# one INSERT of several payments: one event each, in order
		for my $p (@{ $a[0] }) { return '23505' if $self->{payments}{ $p->[0] } }
		my %seen;
		for my $p (@{ $a[0] }) { return '23505' if $seen{ $p->[0] }++ }
		$self->statement([ 'pay', @$_ ]) for @{ $a[0] };
		return undef;
	}
	if ($op eq 'launch')
	{
		my ($fi, $id) = @a;
		return '55000' if $self->{flows}[$fi]{disabled};
		return '23503' unless $self->{rows}{$id};
		$self->launch($fi, $id);
		return undef;
	}
	if ($op eq 'suspend' || $op eq 'resume' || $op eq 'terminate')
	{
		my ($fi, $id) = @a;
		my $inst = $self->instance_of($fi, $id) or return undef;    # no row: no call
		if ($op eq 'suspend')
		{
			return '55000' unless $inst->{status} eq 'active';
			$self->invalid('suspend with steps pending') if $self->pending_steps($inst);
			$inst->{status} = 'suspended';
		}
		elsif ($op eq 'resume')
		{
			return '55000' unless $inst->{status} eq 'suspended';
			$inst->{status} = 'active';
		}
		else
		{
			return '55000' unless $inst->{status} eq 'active' || $inst->{status} eq 'suspended';
			$self->terminate($inst);
		}
		return undef;
	}
	if ($op eq 'disable')
	{
		my ($fi) = @a;
		for my $inst (grep { $_->{flow} == $fi } @{ $self->{instances} })
		{
			$self->invalid('disable with steps pending') if $self->pending_steps($inst);
		}
		$self->{flows}[$fi]{disabled} = 1;
		return undef;
	}
	if ($op eq 'enable')
	{
		$self->{flows}[ $a[0] ]{disabled} = 0;
		return undef;
	}
	die "unknown statement $op";
}

sub apply_sets
{
	my ($row, $sets) = @_;
	my %new;
	for my $s (@$sets)
	{
		my ($col, $how, $v) = @$s;
		if ($how eq 'val') { $new{$col} = $v }
		elsif ($how eq 'inc') { $new{$col} = defined $row->{$col} ? $row->{$col} + 1 : undef }
		elsif ($how eq 'not') { $new{$col} = defined $row->{$col} ? ($row->{$col} ? 0 : 1) : undef }
		else { die "bad set $how" }
	}
	$row->{$_} = $new{$_} for keys %new;
}

sub instance_of
{
	my ($self, $fi, $id) = @_;
	my @i = grep { $_->{flow} == $fi && $_->{key} == $id } @{ $self->{instances} };
	return $i[-1];
}

sub pending_steps
{
	my ($self, $inst) = @_;
	return scalar grep { $_->{type} eq 'step' && $_->{inst} == $inst } @{ $self->{queue} };
}

# how many events are kept for an instance
sub kept_count
{
	my ($self, $inst) = @_;
	return scalar grep { $_->{type} eq 'kept' && $_->{inst} == $inst } @{ $self->{queue} };
}

# A chain of steps runs in the instance: it has steps pending or events
# kept for it.  Otherwise it rests.
sub chain_runs
{
	my ($self, $inst) = @_;
	return scalar grep { ($_->{type} eq 'step' || $_->{type} eq 'kept') && $_->{inst} == $inst } @{ $self->{queue} };
}

# After a step: an instance whose chain is over rests, without a clock.
sub chain_end
{
	my ($self, $inst) = @_;
	delete $inst->{clock} unless $self->chain_runs($inst);
}

sub held
{
	my ($self, $inst) = @_;
	return $inst->{status} eq 'suspended' || $self->{flows}[ $inst->{flow} ]{disabled};
}

sub live { my $s = $_[0]; $s eq 'ready' || $s eq 'waiting' || $s eq 'failed' }

# ---------------------------------------------------------------------------
# Events and the queue

# The position of something happening now: the next one in the order of
# things (events written, launches, waits begun)
sub tick
{
	my ($self) = @_;
	return ++$self->{pos};
}

# An event: its position, and the instance whose step wrote it (src), if
# one did
sub event
{
	my ($self, $table, $kind, $new, $old) = @_;
	my $ev = { table => $table, kind => $kind, new => $new, old => $old, pos => $self->tick, src => $self->{writer} };
	my $job = { type => 'event', ev => $ev, ord => ++$self->{ord} };
	$ev->{ord} = $job->{ord};
	push @{ $self->{queue} }, $job;
	if ($self->{in_txn}) { push @{ $self->{in_txn} }, $job }
	else { $self->keep_if_held($job) }
}

# An event that commits while an instance it concerns is held (suspended,
# or its flow disabled) is kept for it, whenever a job gets to it.
sub keep_if_held
{
	my ($self, $job) = @_;
	for my $inst (@{ $self->{instances} })
	{
		next unless $self->alive($inst) && $self->held($inst) && $self->concerns($inst, $job->{ev});
		next if $job->{absorbed}{ $inst->{seq} };
		$self->stat('event kept (held)');
		$self->keep($inst, $job->{ev});
		$job->{absorbed}{ $inst->{seq} } = 1;
	}
}

# Keep an event for an instance: a job of the instance, queued now
sub keep
{
	my ($self, $inst, $ev) = @_;
	push @{ $self->{queue} }, { type => 'kept', inst => $inst, ev => $ev, ord => ++$self->{ord} };
	$self->note($self->iname($inst) . ": keeps event " . $self->evname($ev));
}

# Can a job run now?  A step, unless its instance is held; an event job,
# always; an event kept for an instance, when the instance is not held, has
# no step pending (so the steps each kept event leads to run before the
# next one) and no older event kept.
sub runnable
{
	my ($self, $j) = @_;
	return 1 if $j->{type} eq 'event';
	my $inst = $j->{inst};
	return 0 if $self->held($inst);
	return 1 if $j->{type} eq 'step';
	return 0 if $self->pending_steps($inst);
	return !grep { $_->{type} eq 'kept' && $_->{inst} == $inst && $_->{ev}{pos} < $j->{ev}{pos} } @{ $self->{queue} };
}

# Runs due work until none is left: the first job of the queue that can run.
sub drain
{
	my ($self) = @_;
	my $guard = 0;
	while (1)
	{
		die FlowModel::Invalid->new('model ran away') if ++$guard > 100000;
		my $q = $self->{queue};
		my ($at) = grep { $self->runnable($q->[$_]) } 0 .. $#$q;
		last unless defined $at;
		my ($job) = splice @$q, $at, 1;
		$self->run_job($job);
	}
}

sub alive { my ($self, $inst) = @_; $inst->{status} eq 'active' || $inst->{status} eq 'suspended' }

sub run_job
{
	my ($self, $job) = @_;
	if ($job->{type} eq 'step')
	{
		$self->run_step($job->{inst}, $job->{act});
		return;
	}
	if ($job->{type} eq 'kept')
	{
		my ($inst, $ev) = @$job{qw(inst ev)};
		$self->note($self->iname($inst) . ": its kept event " . $self->evname($ev) . " is delivered");
		$self->stat('kept event delivered');
		$self->deliver($inst, $ev);
		return;
	}
	my $ev = $job->{ev};
	# flow by flow (one event job per listening flow, in the order the flows
	# were created), and within a flow to its instances in launch order
	for my $inst (sort { $a->{flow} <=> $b->{flow} || $a->{seq} <=> $b->{seq} } @{ $self->{instances} })
	{
		next unless $self->alive($inst);
		next unless $self->concerns($inst, $ev);
		next if $job->{absorbed}{ $inst->{seq} };
		if ($self->held($inst))
		{
			$self->stat('event kept (held)');
			$self->keep($inst, $ev);
			next;
		}
		# a chain of steps runs in the instance: the event waits for its end
		if ($self->chain_runs($inst))
		{
			$self->stat('event kept (chain)');
			$self->stat('own event kept') if defined $ev->{src} && $ev->{src} == $inst->{seq};
			$self->keep($inst, $ev);
			next;
		}
		$self->deliver($inst, $ev);
	}
}

# Does the event's row belong to the instance (its own row, or a payment
# whose item_id is its key)?
sub concerns
{
	my ($self, $inst, $ev) = @_;
	if ($ev->{table} eq 'item')
	{
		return $ev->{new}{id} == $inst->{key};
	}
	my $k = $ev->{new}{item_id};
	return defined $k && $k == $inst->{key};
}

sub wait_matches
{
	my ($self, $inst, $a, $ev) = @_;
	my $on = $a->{def}{on};
	my $table = ($on->{entity} // 'item') eq 'payment' ? 'payment' : 'item';
	return 0 unless $ev->{table} eq $table && $ev->{kind} eq $on->{event};
	if ($on->{fields})
	{
		my $changed = 0;
		for my $c (@{ $on->{fields} })
		{
			my ($o, $n) = ($ev->{old}{$c}, $ev->{new}{$c});
			$changed = 1 if defined $o != defined $n || (defined $o && $o ne $n);
		}
		return 0 unless $changed;
	}
	return 1 unless $a->{def}{cond_ast};
	return FlowGen::truth(FlowGen::eval_cond($a->{def}{cond_ast}, $ev->{new}, $ev->{old}));
}

# Does the wait take the event (when it matches)?  It does when its step
# could not see it (the event is after the wait began), or when it is
# after the clock of the chain that began the wait and no step of the
# instance wrote it.
sub takes
{
	my ($self, $inst, $w, $ev) = @_;
	return 1 if $ev->{pos} > $w->{rpos};
	return 0 unless defined $w->{cpos} && $ev->{pos} > $w->{cpos};
	return !(defined $ev->{src} && $ev->{src} == $inst->{seq});
}

# The delivery of an event (live or kept) to an instance: a step, and the
# start of a chain whose clock is the event's position
sub deliver
{
	my ($self, $inst, $ev) = @_;
	return unless $inst->{status} eq 'active';
	$inst->{clock} = $ev->{pos};
	my @w = grep {
		$_->{kind} eq 'wait' && $_->{status} eq 'waiting' && $self->wait_matches($inst, $_, $ev)
		  && $self->takes($inst, $_, $ev)
	} @{ $inst->{acts} };
	if (@w)
	{
		$self->note($self->iname($inst) . ": event " . $self->evname($ev) . " closes "
			  . join(', ', map { "$_->{name} (began #$_->{rpos}" . (defined $_->{cpos} ? ", clock #$_->{cpos})" : ')') } @w));
		$self->stat('wait closed by event');
		$self->stat('wait closed by an event before it began') if grep { $ev->{pos} < $_->{rpos} } @w;
		$self->stat('one event closes several waits') if @w > 1;
		$inst->{spin} = 0;
		for my $w (@w)
		{
			last unless $inst->{status} eq 'active';
			next unless $w->{status} eq 'waiting';
			$w->{status} = 'closed';
			$w->{outcome} = 'event';
			$self->follow($inst, $w->{name}, $w->{def}{next});
		}
		$self->end_step($inst);
	}
	$self->chain_end($inst);
}

# ---------------------------------------------------------------------------
# Instances and steps

# A launch: a step; when it queues steps, the start of a chain whose clock
# is the launch's position
sub launch
{
	my ($self, $fi, $id) = @_;
	$self->invalid("second instance of flow $fi for row $id") if $self->instance_of($fi, $id);
	my $inst = {
		flow   => $fi,
		key    => $id,
		status => 'active',
		acts   => [],
		spin   => 0,
		seq    => scalar @{ $self->{instances} },
	};
	push @{ $self->{instances} }, $inst;
	$self->stat('launch');
	$inst->{clock} = $self->tick;
	$self->note($self->iname($inst) . ": launch #$inst->{clock}");
	$self->enter($inst, $self->{flows}[$fi]{start}, undef);
	$self->end_step($inst);
	$self->chain_end($inst);
}

sub end_step
{
	my ($self, $inst) = @_;
	return unless $inst->{status} eq 'active' || $inst->{status} eq 'suspended';
	return if grep { live($_->{status}) } @{ $inst->{acts} };
	$inst->{status} = 'completed';
	$self->stat("instance completed");
	$self->drop_jobs($inst);
}

# an instance that ended: its steps and kept events go
sub drop_jobs
{
	my ($self, $inst) = @_;
	$self->{queue} = [ grep { $_->{type} eq 'event' || $_->{inst} != $inst } @{ $self->{queue} } ];
	delete $inst->{clock};
}

sub terminate
{
	my ($self, $inst) = @_;
	for my $a (@{ $inst->{acts} })
	{
		if (live($a->{status}))
		{
			$a->{status} = 'cancelled';
			$a->{outcome} = undef;
		}
	}
	$inst->{status} = 'terminated';
	$self->drop_jobs($inst);
}

sub current_row
{
	my ($self, $inst) = @_;
	my $r = $self->{rows}{ $inst->{key} };
	return $r ? { %$r } : undef;
}

sub new_act
{
	my ($self, $inst, $name, $kind, $status, $outcome) = @_;
	my $a = {
		name    => $name,
		kind    => $kind,
		status  => $status,
		outcome => $outcome,
		def     => $self->{flows}[ $inst->{flow} ]{acts}{$name},
	};
	push @{ $inst->{acts} }, $a;
	return $a;
}

sub follow
{
	my ($self, $inst, $from, $next) = @_;
	my @t = ref $next eq 'ARRAY' ? @$next : ref $next eq 'HASH' ? (map { ref $_ ? @$_ : $_ } values %$next) : ($next);
	for my $t (@t)
	{
		last unless $inst->{status} eq 'active';
		$self->enter($inst, $t, $from);
	}
}

sub enter
{
	my ($self, $inst, $name, $from) = @_;
	return unless $inst->{status} eq 'active';
	my $f = $self->{flows}[ $inst->{flow} ];
	my $d = $f->{acts}{$name} or die "no activity $name";
	my $kind = $d->{kind};
	if ($kind eq 'automatic')
	{
		my $a = $self->new_act($inst, $name, 'automatic', 'ready');
		push @{ $self->{queue} }, { type => 'step', inst => $inst, act => $a, ord => ++$self->{ord} };
	}
	elsif ($kind eq 'decision')
	{
		my $row = $self->current_row($inst);
		my ($k, $to) = (0, undef);
		for my $c (@{ $d->{cases} })
		{
			$k++;
			if (FlowGen::truth(FlowGen::eval_cond($c->{when_ast}, $row, undef)))
			{
				$to = $c;
				last;
			}
		}
		$self->new_act($inst, $name, 'decision', 'closed', $to ? "case $k" : 'else');
		$self->follow($inst, $name, $to ? $to->{next} : $d->{else});
	}
	elsif ($kind eq 'wait')
	{
		# rpos: where it began; cpos: the clock of the chain that began it
		my $a = $self->new_act($inst, $name, 'wait', 'waiting');
		$a->{rpos} = $self->tick;
		$a->{cpos} = $inst->{clock};
		if ($self->at_once($inst, $d))
		{
			if ($inst->{spin} >= $SPIN_LIMIT)
			{
				$a->{status} = 'failed';
				$self->stat('spin failed');
				$self->note($self->iname($inst) . ": wait $name would spin: failed");
				return;
			}
			$inst->{spin}++;
			$self->stat('wait closed at once');
			$self->note($self->iname($inst) . ": $name closes at once (began #$a->{rpos}); clock #$self->{pos}");
			# it has seen the row as it is: the waits after it in the chain
			# take the events from now on
			$inst->{clock} = $self->{pos};
			$a->{status} = 'closed';
			$a->{outcome} = 'event';
			$self->follow($inst, $name, $d->{next});
		}
	}
	elsif ($kind eq 'join')
	{
		my ($a) = grep { $_->{name} eq $name && $_->{status} eq 'waiting' } @{ $inst->{acts} };
		$a //= do { my $x = $self->new_act($inst, $name, 'join', 'waiting'); $x->{arrived} = {}; $x };
		$a->{arrived}{$from} = 1;
		my @need = keys %{ $f->{preds}{$name} };
		if (!grep { !$a->{arrived}{$_} } @need)
		{
			$a->{status} = 'closed';
			$self->stat('join closed');
			$self->follow($inst, $name, $d->{next});
		}
	}
	elsif ($kind eq 'end')
	{
		$self->new_act($inst, $name, 'end', 'closed');
		if ($d->{terminate}) { $self->stat('terminate end'); $self->terminate($inst) }
	}
	else
	{
		die "kind $kind";
	}
}

sub at_once
{
	my ($self, $inst, $d) = @_;
	my $on = $d->{on};
	return 0 if ($on->{entity} // 'item') eq 'payment';
	my $row = $self->current_row($inst);
	if ($on->{event} eq 'create')
	{
		return 0 unless $row;
		return 1 unless $d->{cond_ast};
		return FlowGen::truth(FlowGen::eval_cond($d->{cond_ast}, $row, undef));
	}
	if ($on->{event} eq 'update')
	{
		return 0 unless $d->{cond_ast} && $row;    # no row, no update that holds
		return FlowGen::truth(FlowGen::eval_cond($d->{cond_ast}, $row, undef));
	}
	return $row ? 0 : 1;    # delete
}

sub run_step
{
	my ($self, $inst, $a) = @_;
	return unless $inst->{status} eq 'active' && $a->{status} eq 'ready';
	my $d = $a->{def};
	$self->stat("step");
	local $self->{writer} = $inst->{seq};    # the events its action writes are its own
	$self->note($self->iname($inst) . ": step $a->{name}" . (defined $inst->{clock} ? " (clock #$inst->{clock})" : ''));
	my $one = $self->current_row($inst);    # $1, read once for the action
	for my $op (@{ $d->{ops} })
	{
		if ($op->[0] eq 'log')
		{
			push @{ $self->{logs} }, [ $inst->{flow}, $inst->{key}, $a->{name}, $one ? $one->{n} : undef,
				$one ? $one->{status} : undef ];
		}
		elsif ($op->[0] eq 'upd')
		{
			next unless $one;
			my $row = $self->{rows}{ $one->{id} } or next;
			my %old = %$row;
			apply_sets($row, $op->[1]);
			$self->event('item', 'update', { %$row }, \%old);
		}
		else { die "op $op->[0]" }
	}
	$a->{status} = 'closed';
	$self->follow($inst, $a->{name}, $d->{next});
	$self->end_step($inst);
	$self->chain_end($inst);
}

# ---------------------------------------------------------------------------
# What the database should show

sub snapshot
{
	my ($self) = @_;
	my $fname = sub { $self->{flows}[ $_[0] ]{name} };
	my (@inst, @act, @log, @rows);
	for my $i (@{ $self->{instances} })
	{
		push @inst, [ $fname->($i->{flow}), "$i->{key}", $i->{status} ];
		push @act, [ $fname->($i->{flow}), "$i->{key}", $_->{name}, $_->{kind}, $_->{status}, $_->{outcome} ]
		  for @{ $i->{acts} };
	}
	push @log, [ $fname->($_->[0]), "$_->[1]", $_->[2], FlowGen::sqltext_int($_->[3]), $_->[4] ] for @{ $self->{logs} };
	for my $id (sort { $a <=> $b } keys %{ $self->{rows} })
	{
		my $r = $self->{rows}{$id};
		push @rows, [ "$id", $r->{status}, FlowGen::sqltext_int($r->{n}), FlowGen::sqltext_bool($r->{flag}) ];
	}
	return FlowGen::canon_snap({ inst => \@inst, act => \@act, log => \@log, rows => \@rows });
}

1;
