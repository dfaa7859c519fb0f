# Plays generated cases against a PostgreSQL server with procflow and
# against the model (FlowModel), compares them after each transaction, and
# shrinks a mismatch to a small case printed as runnable SQL.
#
# Two modes: 'det' (a server without executors: after each transaction,
# procflow.run_jobs(100) is called, each call its own transaction, until it
# returns 0) and 'live' (a server whose executors serve the database: after
# each transaction, poll until no job that can run is left).
#
# Copyright (c) 2026, procflow developers
package FlowRunner;

use strict;
use warnings;
use IPC::Run;
use Time::HiRes qw(time sleep);
use Storable qw(dclone);
use JSON::PP;
use FlowGen;
use FlowModel;

# ---------------------------------------------------------------------------
# One psql process, fed statements; each call waits for a marker on both
# stdout and stderr, so errors are told apart by statement.
package FlowRunner::Psql {
	sub new
	{
		my ($class, %o) = @_;
		my $self = bless { n => 0, %o }, $class;
		$self->start;
		return $self;
	}

	sub start
	{
		my ($self) = @_;
		@$self{qw(in out err dead)} = ('', '', '', 0);
		$self->{timer} = IPC::Run::timeout($self->{timeout} // 600);
		my @cmd = ($self->{psql} // 'psql', '-XAtq', '-v', 'ON_ERROR_STOP=0', '-v', 'VERBOSITY=verbose',
			'-d', $self->{connstr});
		$self->{h} = IPC::Run::start(\@cmd, '<', \$self->{in}, '>', \$self->{out}, '2>', \$self->{err},
			$self->{timer});
		$self->query('SET client_min_messages = warning');
		$self->query("SET statement_timeout = '" . ($self->{statement_timeout} // '5s') . "'");
	}

	# A new psql and server session (after the server ended ours, or left
	# it in a state nothing gets out of)
	sub restart
	{
		my ($self) = @_;
		eval { $self->{h}->kill_kill(grace => 1) };
		$self->start;
	}

	# Returns (stdout, [errors as [sqlstate, message]], raw stderr).  When
	# psql exits (the server closed the connection), the error is 'CONN'
	# and the session is marked dead until restart().
	sub query
	{
		my ($self, $sql) = @_;
		return ('', [ [ 'CONN', 'session lost' ] ], '') if $self->{dead};
		my $mark = "model_mark_" . ++$self->{n};
		$sql =~ s/\s+\z//;
		$sql .= ";" unless $sql =~ /;\z/;
		$self->{timer}->start($self->{timeout} // 600);
		$self->{in} .= "$sql\n\\echo $mark\n\\warn $mark\n";
		my $ok = eval {
			$self->{h}->pump until $self->{out} =~ /^$mark\n/m && $self->{err} =~ /^$mark\n/m;
			1;
		};
		if (!$ok)
		{
			my $why = $@;
			my $raw = $self->{err};
			$self->{dead} = 1;
			my @errors;
			while ($raw =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*(.*)/g) { push @errors, [ $1, $2 ] }
			$why =~ s/ at .*//s;
			return ('', [ @errors, [ 'CONN', "psql ended ($why): " . ($raw =~ /(FATAL:.*|server closed.*)/ ? $1 : '') ] ], $raw);
		}
		my ($out) = $self->{out} =~ /\A(.*?)^$mark\n/ms;
		my ($err) = $self->{err} =~ /\A(.*?)^$mark\n/ms;
		$self->{out} =~ s/\A.*?^$mark\n//ms;
		$self->{err} =~ s/\A.*?^$mark\n//ms;
		my @errors;
		while ($err =~ /(?:ERROR|FATAL):\s+([0-9A-Z]{5}):\s*(.*)/g) { push @errors, [ $1, $2 ] }
		chomp $out;
		return ($out, \@errors, $err);
	}

	sub safe
	{
		my ($self, $sql) = @_;
		my ($out, $errors, $raw) = $self->query($sql);
		die "query failed: $sql\n$raw" if @$errors;
		return $out;
	}

	sub quit
	{
		my ($self) = @_;
		return if $self->{dead};
		$self->{in} .= "\\q\n";
		eval { $self->{h}->finish };
	}
}

# ---------------------------------------------------------------------------
# Playing a case on the server

our $RUN = 0;

sub names
{
	my ($case, $prefix) = @_;
	my @f = map { "${prefix}_$_->{name}" } @{ $case->{flows} };
	return (\@f, sub { $f[ $_[0] ] });
}

sub setup_sql
{
	my ($case, $schema, $flownames) = @_;
	my @s = (
		"CREATE SCHEMA $schema;",
		"SET search_path = $schema, public;",
		'CREATE TABLE item (id int PRIMARY KEY, status text, n int, flag boolean);',
		'CREATE TABLE payment (id int PRIMARY KEY, item_id int, amount int);',
		'CREATE TABLE log (instance bigint, activity text, n int, status text);');
	my @flows;
	for my $k (0 .. $#{ $case->{flows} })
	{
		my $f = $case->{flows}[$k];
		my $c = FlowGen::compile_flow($f);
		push @flows, "SELECT procflow.create_flow('$flownames->[$k]', 'item', \$def\$"
		  . FlowGen::definition_json($c) . "\$def\$);";
		push @flows, "SELECT procflow.add_trigger('$flownames->[$k]', 'create');" if $f->{trigger};
	}
	return (\@s, \@flows);
}

sub snapshot_sql
{
	my ($flownames, $schema) = @_;
	my $in = join(', ', map { "'$_'" } @$flownames);
	return qq{SELECT json_build_object(
 'inst', (SELECT coalesce(json_agg(json_build_array(i.flow, i.key->>'id', i.status)), '[]') FROM procflow.instances i WHERE i.flow IN ($in)),
 'act', (SELECT coalesce(json_agg(json_build_array(a.flow, i.key->>'id', a.name, a.kind, a.status, a.outcome)), '[]')
           FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance WHERE a.flow IN ($in)),
 'log', (SELECT coalesce(json_agg(json_build_array(i.flow, i.key->>'id', l.activity, l.n::text, l.status)), '[]')
           FROM $schema.log l LEFT JOIN procflow.instances i ON i.id = l.instance),
 'rows', (SELECT coalesce(json_agg(json_build_array(id::text, status, n::text, flag::text)), '[]') FROM $schema.item),
 'errors', (SELECT coalesce(json_agg(json_build_array(a.name, a.status, a.error)), '[]')
           FROM procflow.activities a WHERE a.flow IN ($in) AND a.error IS NOT NULL))};
}

# Jobs that could still run: due (a job due at infinity is parked, and the
# later jobs of its row wait behind it), not
# those of a disabled flow, nor those held for a suspended instance (its
# steps, and events of its row or of a payment for it); and executors in a
# transaction.
sub busy_sql
{
	my ($flownames, $schema) = @_;
	my $in = join(', ', map { "'$_'" } @$flownames);
	return qq{SELECT (SELECT count(*) FROM procflow.jobs j
 WHERE j.process IN ($in) AND j.run_at <= now() + interval '1 second'
   AND NOT EXISTS (SELECT 1 FROM procflow.jobs o
                    WHERE o.process = j.process AND o.key = j.key AND o.run_at = 'infinity' AND o.id < j.id)
   AND NOT EXISTS (SELECT 1 FROM procflow.processes p WHERE p.name = j.process AND NOT p.enabled)
   AND NOT EXISTS (SELECT 1 FROM procflow.instances i
                    WHERE i.flow = j.process AND i.status = 'suspended'
                      AND (i.key = j.key
                           OR (j.entity = '$schema.payment'::regclass
                               AND EXISTS (SELECT 1 FROM $schema.payment p
                                            WHERE p.id = (j.key->>'id')::int AND p.item_id = (i.key->>'id')::int)))))
 + (SELECT count(*) FROM procflow.job_batch b JOIN procflow.process p ON p.id = b.process_id
     WHERE p.enabled AND p.name IN ($in))
 + (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'procflow executor' AND xact_start IS NOT NULL)};
}

# Runs the case; returns {setup_error, txns => [{err, msg, snap, errors,
# drain_error}]}.  With $o{model} (the model's results), stops after the
# first transaction where they differ: what follows would differ too, and a
# step that spins would cost a statement timeout each time.
sub play_db
{
	my ($sess, $case, %o) = @_;
	my $mode = $o{mode} // 'det';
	my $run = ++$RUN;
	my $prefix = "m$$" . "_$run";
	my $schema = $prefix;
	my ($fnames, $fname) = names($case, $prefix);
	my ($setup, $flows) = setup_sql($case, $schema, $fnames);
	my $res = { txns => [], schema => $schema, prefix => $prefix };
	sweep($sess);
	$sess->safe(join("\n", @$setup));
	for my $s (@$flows)
	{
		my (undef, $errors) = $sess->query($s);
		if (@$errors)
		{
			$res->{setup_error} = "$errors->[0][0]: $errors->[0][1]\n  in: " . substr($s, 0, 200);
			teardown($sess, $schema, $fnames);
			return $res;
		}
	}
	my $snap_sql = snapshot_sql($fnames, $schema);
	my $busy_sql = busy_sql($fnames, $schema);
	my %back = map { $fnames->[$_] => $case->{flows}[$_]{name} } 0 .. $#$fnames;
	for my $txn (@{ $case->{txns} })
	{
		my $sql = FlowGen::txn_sql($txn, $fname);
		my (undef, $errors) = $sess->query($sql);
		my $t = { err => (@$errors ? $errors->[0][0] : undef), msg => (@$errors ? $errors->[0][1] : undef) };
		my (undef, $probe) = $sess->query('SELECT 1');
		$t->{drain_error} = recover($sess, [ (grep { $_->[0] eq 'CONN' } @$errors), @$probe ]);
		if ($t->{drain_error}) { }
		elsif ($mode eq 'det' && grep { $_->[0] eq 'nodrain' } @$txn) { }
		elsif ($mode eq 'det')
		{
			my $calls = 0;
			while (1)
			{
				my ($out, $e) = $sess->query('SELECT procflow.run_jobs(100);');
				if (@$e)
				{
					$t->{drain_error} = "run_jobs: $e->[0][0]: $e->[0][1]";
					my (undef, $probe) = $sess->query('SELECT 1');
					my $broken = recover($sess, [ @$e, @$probe ]);
					$t->{drain_error} .= "; then $broken" if $broken;
					last;
				}
				last if $out eq '0';
				if (++$calls > 200) { $t->{drain_error} = 'run_jobs still had work after 200 calls'; last }
			}
		}
		else
		{
			my $deadline = time + ($o{live_deadline} // 30);
			while (1)
			{
				my ($out, $e) = $sess->query($busy_sql);
				if (@$e) { $t->{drain_error} = "poll: $e->[0][0]: $e->[0][1]"; recover($sess, $e); last }
				last if $out eq '0';
				if (time > $deadline) { $t->{drain_error} = "$out jobs still due after the deadline"; last }
				sleep(0.005);
			}
		}
		my ($json, $se) = $sess->query($snap_sql);
		if (@$se)
		{
			$t->{drain_error} = join('; ', grep { defined } $t->{drain_error}, "reading the state: $se->[0][0] $se->[0][1]");
			recover($sess, $se);
			$json = '{"inst": [], "act": [], "log": [], "rows": [], "errors": []}';
		}
		my $s = JSON::PP->new->decode($json);
		for my $k (qw(inst act log))
		{
			$_->[0] = defined $_->[0] ? ($back{ $_->[0] } // $_->[0]) : undef for @{ $s->{$k} };
		}
		$t->{errors} = $s->{errors};
		$t->{snap} = FlowGen::canon_snap($s);
		push @{ $res->{txns} }, $t;
		last if $o{model} && compare_txn($o{model}[ $#{ $res->{txns} } ], $t);
	}
	teardown($sess, $schema, $fnames) unless $o{keep};
	return $res;
}

# A session the server ended, or left in a failed transaction block outside
# any BEGIN of ours, is a finding; start a new one to go on.
sub recover
{
	my ($sess, $errors) = @_;
	if (grep { $_->[0] eq 'CONN' } @$errors)
	{
		my ($e) = grep { $_->[0] eq 'CONN' } @$errors;
		$sess->restart;
		return "the server ended the session: $e->[1]";
	}
	return undef unless grep { $_->[0] eq '25P02' } @$errors;
	# ROLLBACK there has been seen to end the session (FATAL): start anew
	$sess->restart;
	return 'the session was left in an aborted transaction block (25P02 afterwards, outside any BEGIN)';
}

# Flows of earlier cases that a lost session could not drop: their jobs
# would run (or spin) in every later run_jobs() of the server.
sub sweep
{
	my ($sess) = @_;
	my $left = $sess->safe(q{SELECT string_agg(name, ' ') FROM procflow.processes WHERE name ~ '^m[0-9]+_[0-9]+_f[0-9]+$'});
	for my $f (split ' ', $left)
	{
		my ($schema) = $f =~ /^(.*)_f[0-9]+$/;
		teardown($sess, $schema, [$f]);
	}
}

sub teardown
{
	my ($sess, $schema, $fnames) = @_;
	$sess->restart if $sess->{dead};
	for my $f (@$fnames)
	{
		$sess->query("SELECT procflow.disable_process('$f', cancel_pending => true) FROM procflow.processes WHERE name = '$f';");
		$sess->query("SELECT procflow.drop_process('$f') FROM procflow.processes WHERE name = '$f';");
	}
	my (undef, $e) = $sess->query("DROP SCHEMA $schema CASCADE;");
	$sess->query('RESET search_path;');
}

# ---------------------------------------------------------------------------
# Comparing

# Plays the model; returns its per-transaction results (and the model), or
# undef when the case is invalid for the model.
sub play_model
{
	my ($case, %o) = @_;
	my $m = FlowModel->new($case, mode => $o{mode});
	$m->{tracing} = $o{trace};
	my $out = eval { $m->play };
	if (!$out)
	{
		return undef if ref $@ && ref $@ eq 'FlowModel::Invalid';
		die $@;
	}
	return wantarray ? ($out, $m) : $out;
}

sub multiset_diff
{
	my ($x, $y) = @_;
	my %c;
	$c{$_}++ for @$x;
	$c{$_}-- for @$y;
	my (@only_x, @only_y);
	for my $k (sort keys %c)
	{
		push @only_x, $k . ($c{$k} > 1 ? "   (x$c{$k})" : '') if $c{$k} > 0;
		push @only_y, $k . (-$c{$k} > 1 ? '   (x' . -$c{$k} . ')' : '') if $c{$k} < 0;
	}
	return (\@only_x, \@only_y);
}

sub compare_txn
{
	my ($m, $d) = @_;
	my @why;
	if (($m->{err} // '') ne ($d->{err} // ''))
	{
		push @why, sprintf('transaction error: model %s, actual %s%s', $m->{err} // 'none', $d->{err} // 'none',
			$d->{msg} ? " ($d->{msg})" : '');
	}
	push @why, "drain: $d->{drain_error}" if $d->{drain_error};
	for my $k (qw(inst act log rows))
	{
		my ($mo, $do) = multiset_diff($m->{snap}{$k}, $d->{snap}{$k});
		next unless @$mo || @$do;
		push @why, "$k: model only:", (map { "    $_" } @$mo), "  actual only:", (map { "    $_" } @$do);
	}
	return @why ? join("\n", @why) : undef;
}

# The first difference, or undef
sub compare
{
	my ($model, $db) = @_;
	return { txn => 0, what => "create_flow refused: $db->{setup_error}" } if $db->{setup_error};
	for my $i (0 .. $#{ $db->{txns} })
	{
		my $why = compare_txn($model->[$i], $db->{txns}[$i]);
		return { txn => $i, what => $why, model => $model->[$i], db => $db->{txns}[$i] } if $why;
	}
	return undef;
}

# ---------------------------------------------------------------------------
# Shrinking: smaller variants of a case, most reducing first

sub flow_variants
{
	my ($tree) = @_;
	return map { { seq => $_->[0], term => $_->[1] } } seqterm_variants($tree->{seq}, $tree->{term});
}

sub seqterm_variants
{
	my ($seq, $term) = @_;
	my @v;
	# a fork terminal: keep one branch, inline
	if ($term->{t} eq 'fork')
	{
		for my $b (@{ $term->{branches} })
		{
			push @v, [ [ @$seq, $term->{fork}, @{ $b->{seq} } ], $b->{term} ];
		}
		push @v, [ $seq, { t => 'end', id => $term->{id}, terminate => 0 } ];
	}
	push @v, [ $_, $term ] for seq_variants($seq);
	push @v, [ $seq, $_ ] for term_variants($term);
	return @v;
}

sub term_variants
{
	my ($t) = @_;
	return ({ %$t, terminate => 0 }) if $t->{t} eq 'end' && $t->{terminate};
	return () if $t->{t} eq 'end';
	my @v;
	for my $i (0 .. $#{ $t->{branches} })
	{
		for my $st (seqterm_variants($t->{branches}[$i]{seq}, $t->{branches}[$i]{term}))
		{
			my $n = dclone($t);
			$n->{branches}[$i] = { seq => $st->[0], term => $st->[1] };
			push @v, $n;
		}
	}
	push @v, map { { %$t, fork => $_ } } block_variants($t->{fork});
	return @v;
}

sub seq_variants
{
	my ($seq) = @_;
	my @v;
	for my $i (0 .. $#$seq)
	{
		push @v, [ @$seq[ 0 .. $i - 1 ], @$seq[ $i + 1 .. $#$seq ] ];
	}
	for my $i (0 .. $#$seq)
	{
		for my $r (inline_variants($seq->[$i]))
		{
			push @v, [ @$seq[ 0 .. $i - 1 ], @$r, @$seq[ $i + 1 .. $#$seq ] ];
		}
	}
	for my $i (0 .. $#$seq)
	{
		for my $b (block_variants($seq->[$i]))
		{
			my @n = @$seq;
			$n[$i] = $b;
			push @v, \@n;
		}
	}
	return @v;
}

sub inline_variants
{
	my ($b) = @_;
	my $t = $b->{t};
	if ($t eq 'dec')
	{
		return (grep { defined } map { $_->{term} ? undef : $_->{seq} } @{ $b->{cases} }, $b->{else});
	}
	if ($t eq 'split')
	{
		return ([ $b->{fork} ], map { [ $b->{fork}, @$_ ] } @{ $b->{branches} });
	}
	if ($t eq 'loop')
	{
		return ([ @{ $b->{head} }, $b->{wait}, @{ $b->{body} } ]);
	}
	return ();
}

sub cond_variants
{
	my ($c) = @_;
	my ($op, @a) = @$c;
	return ($a[0]) if $op eq 'not';
	return (@a, (map { [ $op, $_, $a[1] ] } cond_variants($a[0])), (map { [ $op, $a[0], $_ ] } cond_variants($a[1])))
	  if $op eq 'and' || $op eq 'or';
	return ();
}

sub block_variants
{
	my ($b) = @_;
	my $t = $b->{t};
	my @v;
	if ($t eq 'auto')
	{
		if (@{ $b->{ops} } > 1)
		{
			for my $i (0 .. $#{ $b->{ops} })
			{
				my @ops = @{ $b->{ops} };
				splice @ops, $i, 1;
				push @v, { %$b, ops => \@ops };
			}
		}
	}
	elsif ($t eq 'wait')
	{
		if ($b->{cond})
		{
			my %n = %$b;
			delete $n{cond};
			push @v, \%n;
			push @v, { %$b, cond => $_ } for cond_variants($b->{cond});
		}
		if ($b->{fields})
		{
			my %n = %$b;
			delete $n{fields};
			push @v, \%n;
		}
	}
	elsif ($t eq 'dec')
	{
		my @c = @{ $b->{cases} };
		if (@c > 1)
		{
			for my $i (0 .. $#c) { my @n = @c; splice @n, $i, 1; push @v, { %$b, cases => \@n } }
		}
		for my $i (0 .. $#c)
		{
			my $k = $c[$i];
			my @alt;
			push @alt, { %$k, term => undef } if $k->{term};
			push @alt, { %$k, seq => $_->[0], term => $_->[1] } for ($k->{term} ? seqterm_variants($k->{seq}, $k->{term}) : ());
			push @alt, { %$k, seq => $_ } for ($k->{term} ? () : seq_variants($k->{seq}));
			push @alt, { %$k, cond => $_ } for cond_variants($k->{cond});
			for my $a (@alt) { my @n = @c; $n[$i] = $a; push @v, { %$b, cases => \@n } }
		}
		my $e = $b->{else};
		push @v, { %$b, else => { seq => [], term => $e->{term} } } if @{ $e->{seq} };
		push @v, { %$b, else => { seq => $_ } } for ($e->{term} ? () : seq_variants($e->{seq}));
	}
	elsif ($t eq 'split')
	{
		my @br = @{ $b->{branches} };
		if (@br > 2)
		{
			for my $i (0 .. $#br) { my @n = @br; splice @n, $i, 1; push @v, { %$b, branches => \@n } }
		}
		for my $i (0 .. $#br)
		{
			for my $s (seq_variants($br[$i])) { my @n = @br; $n[$i] = $s; push @v, { %$b, branches => \@n } }
		}
		push @v, { %$b, fork => $_ } for block_variants($b->{fork});
	}
	elsif ($t eq 'loop')
	{
		push @v, { %$b, head => $_ } for seq_variants($b->{head});
		push @v, { %$b, body => $_ } for seq_variants($b->{body});
		push @v, { %$b, wait => $_ } for block_variants($b->{wait});
		push @v, { %$b, cond => $_ } for cond_variants($b->{cond});
	}
	return @v;
}

sub case_variants
{
	my ($case) = @_;
	my @v;
	my @tx = @{ $case->{txns} };
	# drop runs of transactions, largest first
	for (my $len = int(@tx / 2); $len >= 1; $len = int($len / 2))
	{
		for (my $i = 0; $i + $len <= @tx; $i += $len)
		{
			my @n = @tx;
			splice @n, $i, $len;
			push @v, { %$case, txns => \@n };
		}
	}
	# drop a flow and what names it
	if (@{ $case->{flows} } > 1)
	{
		for my $k (0 .. $#{ $case->{flows} })
		{
			my @f = @{ $case->{flows} };
			splice @f, $k, 1;
			my @n;
			for my $txn (@tx)
			{
				my @s;
				for my $orig (@$txn)
				{
					my $st = $orig;    # (not the loop's alias: the case stays as it is)
					if ($st->[0] =~ /^(launch|suspend|resume|terminate|disable|enable)$/)
					{
						next if $st->[1] == $k;
						$st = [ @$st ];
						$st->[1]-- if $st->[1] > $k;
					}
					push @s, $st;
				}
				push @n, \@s if @s;
			}
			push @v, { %$case, flows => \@f, txns => \@n };
		}
	}
	# drop one statement of a transaction; simplify a statement
	for my $i (0 .. $#tx)
	{
		my @s = @{ $tx[$i] };
		if (grep { $_->[0] eq 'nodrain' } @s)
		{
			my @n = @tx;
			$n[$i] = [ grep { $_->[0] ne 'nodrain' } @s ];
			push @v, { %$case, txns => \@n };
		}
		if (@s > 1)
		{
			for my $j (0 .. $#s)
			{
				my @ns = @s;
				splice @ns, $j, 1;
				my @n = @tx;
				$n[$i] = \@ns;
				push @v, { %$case, txns => \@n };
			}
			# split the transaction in two
			for my $j (1 .. $#s)
			{
				my @n = @tx;
				splice @n, $i, 1, [ @s[ 0 .. $j - 1 ] ], [ @s[ $j .. $#s ] ];
				push @v, { %$case, txns => \@n };
			}
		}
		for my $j (0 .. $#s)
		{
			my $st = $s[$j];
			my @alt;
			if ($st->[0] eq 'update' && @{ $st->[2] } > 1)
			{
				push @alt, [ 'update', $st->[1], [$_] ] for @{ $st->[2] };
			}
			if ($st->[0] eq 'pays')
			{
				push @alt, [ 'pay', @$_ ] for @{ $st->[1] };
			}
			if ($st->[0] eq 'update' && @{ $st->[1] } > 1)
			{
				push @alt, [ 'update', [$_], $st->[2] ] for @{ $st->[1] };
			}
			for my $a (@alt)
			{
				my @ns = @s;
				$ns[$j] = $a;
				my @n = @tx;
				$n[$i] = \@ns;
				push @v, { %$case, txns => \@n };
			}
		}
	}
	# simplify the flows
	for my $k (0 .. $#{ $case->{flows} })
	{
		my $f = $case->{flows}[$k];
		my @alt;
		push @alt, { %$f, trigger => 0 } if $f->{trigger};
		push @alt, { %$f, tree => $_ } for flow_variants($f->{tree});
		for my $a (@alt)
		{
			my @fl = @{ $case->{flows} };
			$fl[$k] = $a;
			push @v, { %$case, flows => \@fl };
		}
	}
	return @v;
}

sub case_size
{
	my ($case) = @_;
	my $n = 0;
	$n += @$_ for @{ $case->{txns} };
	for my $f (@{ $case->{flows} })
	{
		$n += scalar @{ FlowGen::compile_flow($f)->{order} };
	}
	return $n;
}

# Tries variants while the mismatch remains, within the budget; returns
# the smallest failing case found and its mismatch.
sub shrink
{
	my ($sess, $case, $mismatch, %o) = @_;
	my $deadline = time + ($o{shrink_seconds} // 60);
	my $tries = 0;
	my $max = $o{shrink_tries} // 2000;
	my %seen;
	my $progress = 1;
	while ($progress && time < $deadline && $tries < $max)
	{
		$progress = 0;
		for my $v (case_variants($case))
		{
			last if time >= $deadline || $tries >= $max;
			my $key = JSON::PP->new->canonical->encode([ $v->{flows}, $v->{txns} ]);
			next if $seen{$key}++;
			my $model = play_model($v, mode => $o{mode}) or next;
			$tries++;
			my $db = play_db($sess, $v, %o, model => $model);
			my $mm = compare($model, $db);
			next unless $mm;
			($case, $mismatch) = ($v, $mm);
			$progress = 1;
			last;
		}
	}
	return ($case, $mismatch, $tries);
}

# ---------------------------------------------------------------------------
# Printing

sub case_sql
{
	my ($case, %o) = @_;
	my $mode = $o{mode} // 'det';
	my $prefix = $o{prefix} // 'mc';
	my ($fnames, $fname) = names($case, $prefix);
	my ($setup, $flows) = setup_sql($case, $prefix, $fnames);
	my @out = ("-- procflow flow model case: seed $case->{seed}" . (defined $case->{index} ? ", case $case->{index}" : '')
		  . ", mode $mode", @$setup, @$flows);
	my $drain = $mode eq 'det'
	  ? 'SELECT procflow.run_jobs(100);  -- repeat until it returns 0'
	  : '-- (executors run the due jobs)';
	my $i = 0;
	for my $txn (@{ $case->{txns} })
	{
		$i++;
		push @out, "-- transaction $i", FlowGen::txn_sql($txn, $fname),
		  ($mode eq 'det' && grep { $_->[0] eq 'nodrain' } @$txn) ? '-- (no run_jobs() after this transaction)' : $drain;
		if (defined $o{upto} && $i > $o{upto}) { last }
	}
	my $in = join(', ', map { "'$_'" } @$fnames);
	push @out, '-- what to look at',
	  "SELECT i.flow, i.key, i.status FROM procflow.instances i WHERE i.flow IN ($in) ORDER BY i.id;",
	  "SELECT i.key, a.name, a.kind, a.status, a.outcome, a.error FROM procflow.activities a JOIN procflow.instances i ON i.id = a.instance WHERE a.flow IN ($in) ORDER BY a.id;",
	  'SELECT * FROM log;', 'SELECT * FROM item ORDER BY id;';
	return join("\n", @out) . "\n";
}

sub snap_text
{
	my ($s) = @_;
	my @o;
	for my $k (qw(inst act log rows))
	{
		push @o, "  $k:";
		my @l = @{ $s->{$k} };
		while (@l)
		{
			my $x = shift @l;
			my $n = 1;
			$n++, shift @l while @l && $l[0] eq $x;
			push @o, "    $x" . ($n > 1 ? "   (x$n)" : '');
		}
	}
	return join("\n", @o);
}

sub report
{
	my ($case, $mm, %o) = @_;
	my $i = $mm->{txn};
	my @o = (case_sql($case, %o), "-- mismatch after transaction " . ($i + 1) . ":", map { "--   $_" } split /\n/, $mm->{what});
	if ($mm->{model})
	{
		push @o, "-- model, after transaction " . ($i + 1) . ': '
		  . ($mm->{model}{err} // 'committed');
		push @o, map { "--  $_" } split /\n/, snap_text($mm->{model}{snap});
		push @o, "-- actual: " . ($mm->{db}{err} ? "$mm->{db}{err} $mm->{db}{msg}" : 'committed');
		push @o, map { "--  $_" } split /\n/, snap_text($mm->{db}{snap});
		if (@{ $mm->{db}{errors} || [] })
		{
			push @o, '-- activity errors:', map { '--   ' . join(' ', map { $_ // 'NULL' } @$_) } @{ $mm->{db}{errors} };
		}
	}
	push @o, '-- the case as JSON (run_model.pl --case FILE plays it again):',
	  '-- ' . JSON::PP->new->canonical->encode({ flows => $case->{flows}, txns => $case->{txns}, seed => $case->{seed}, index => $case->{index} });
	if ($o{trace})
	{
		my (undef, $m) = play_model($case, trace => 1, mode => $o{mode});
		push @o, '-- model trace:', map { "--   $_" } @{ $m->{trace} } if $m;
	}
	return join("\n", @o) . "\n";
}

# ---------------------------------------------------------------------------
# A suite: cases $from .. $to of a seed.  Calls $cb->(index, ok, text) per
# case.  Shrinks the first $o{shrink} mismatches.

sub case_seed { my ($seed, $i) = @_; return ($seed * 1000003 + $i * 7919) % 2147483647 }

sub run_suite
{
	my (%o) = @_;
	my $sess = $o{session};
	my $shrunk = 0;
	my @failed;
	my $t0 = time;
	for my $i (@{ $o{indexes} })
	{
		last if $o{deadline} && time > $o{deadline};
		my $case = FlowGen::gen_case(case_seed($o{seed}, $i));
		$case->{seed} = $o{seed};
		$case->{index} = $i;
		my $model = play_model($case, mode => $o{mode});
		if (!$model)
		{
			$o{cb}->($i, 1, 'skipped: invalid for the model');
			next;
		}
		my $db = play_db($sess, $case, %o, model => $model);
		my $mm = compare($model, $db);
		if (!$mm)
		{
			$o{cb}->($i, 1, '');
			next;
		}
		my $text = "case $i ($o{mode}): mismatch after transaction " . ($mm->{txn} + 1) . "\n$mm->{what}\n";
		if ($shrunk < ($o{shrink} // 3))
		{
			$shrunk++;
			my ($small, $smm, $tries) = shrink($sess, $case, $mm, %o);
			$small->{index} = $i;
			$text .= "shrunk with $tries tries to:\n" . report($small, $smm, %o, trace => 1);
		}
		push @failed, $i;
		$o{cb}->($i, 0, $text);
	}
	return \@failed;
}

1;
