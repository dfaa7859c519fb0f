# Random flows and event sequences for the flow model test, and what both
# the model and the runner share: conditions (as trees, rendered to SQL and
# evaluated in Perl with SQL's three-valued logic), the compilation of a
# flow's block tree into a procflow definition, and the SQL of statements.
#
# A flow is a tree of blocks, valid by construction:
#   {t => 'auto', id, ops => [['log'], ['upd', [[col, how, value], ...]]]}
#   {t => 'wait', id, ev => create|update|delete|pay, fields => [...], cond}
#   {t => 'dec',  id, cases => [{cond, seq, term}], else => {seq, term}}
#   {t => 'split', id, fork => auto|wait block, branches => [seq, ...]}
#   {t => 'loop', id, head => seq, wait => wait block, body => seq, cond}
# a sequence is a list of blocks; a terminal ends it:
#   {t => 'end', id, terminate => 0|1}
#   {t => 'fork', id, fork => auto|wait block, branches => [{seq, term}]}
# A decision's branches meet again at what follows the decision, unless a
# branch has a terminal of its own (never inside a split, whose branches
# all reach its join).
#
# Copyright (c) 2026, procflow developers
package FlowGen;

use strict;
use warnings;
use JSON::PP;
use Storable qw(dclone);

# ---------------------------------------------------------------------------
# A small deterministic random generator (the same numbers for a seed on
# every Perl): a 32-bit linear congruential generator, exact in doubles.

sub rng { my ($seed) = @_; my $s = ($seed * 2654435761 + 12345) % 4294967296; bless \$s, 'FlowGen::Rng' }

package FlowGen::Rng {
	sub next32
	{
		my ($r) = @_;
		$$r = (1664525 * $$r + 1013904223) % 4294967296;
		# mix two steps for better low bits
		my $a = $$r;
		$$r = (1664525 * $$r + 1013904223) % 4294967296;
		return ($a ^ ($$r >> 16)) % 4294967296;
	}
	sub int { my ($r, $n) = @_; return int($r->next32 / 4294967296 * $n) }
	sub chance { my ($r, $p) = @_; return $r->next32 / 4294967296 < $p }
	sub pick { my ($r, @l) = @_; return $l[ $r->int(scalar @l) ] }
	sub weighted
	{
		my ($r, @pairs) = @_;    # value => weight, ...
		my $total = 0;
		for (my $i = 1; $i < @pairs; $i += 2) { $total += $pairs[$i] }
		my $x = $r->next32 / 4294967296 * $total;
		for (my $i = 0; $i < @pairs; $i += 2)
		{
			return $pairs[$i] if ($x -= $pairs[ $i + 1 ]) < 0;
		}
		return $pairs[-2];
	}
}

# ---------------------------------------------------------------------------
# Values and conditions

our @STATUS = qw(a b c);
our %TYPE = (status => 'text', n => 'int', flag => 'bool', amount => 'int', item_id => 'int', id => 'int');

sub sqltext_int { defined $_[0] ? "" . (0 + $_[0]) : undef }
sub sqltext_bool { defined $_[0] ? ($_[0] ? 'true' : 'false') : undef }

sub lit
{
	my ($col, $v) = @_;
	return 'NULL' unless defined $v;
	my $t = $TYPE{$col};
	return $v ? 'true' : 'false' if $t eq 'bool';
	return "'$v'" if $t eq 'text';
	return "$v";
}

# SQL of a condition
sub cond_sql
{
	my ($c) = @_;
	my ($op, @a) = @$c;
	if ($op eq 'cmp') { my ($side, $col, $o, $v) = @a; return "(\$$side).$col $o " . lit($col, $v) }
	if ($op eq 'isnull') { my ($side, $col) = @a; return "(\$$side).$col IS NULL" }
	if ($op eq 'bool') { my ($side) = @a; return "(\$$side).flag" }
	if ($op eq 'gone') { return '($1).id IS NULL' }
	if ($op eq 'dist') { return "(\$1).$a[0] IS DISTINCT FROM (\$2).$a[0]" }
	if ($op eq 'cmp2') { return "(\$1).$a[0] $a[1] (\$2).$a[0]" }
	if ($op eq 'not') { return 'NOT (' . cond_sql($a[0]) . ')' }
	if ($op eq 'and' || $op eq 'or') { return '(' . cond_sql($a[0]) . ') ' . uc($op) . ' (' . cond_sql($a[1]) . ')' }
	die "cond $op";
}

sub cmpv
{
	my ($t, $o, $x, $y) = @_;
	return undef unless defined $x && defined $y;
	if ($t eq 'text')
	{
		return ($x eq $y) ? 1 : 0 if $o eq '=';
		return ($x ne $y) ? 1 : 0 if $o eq '<>';
		die "text op $o";
	}
	return ($x == $y) ? 1 : 0 if $o eq '=';
	return ($x != $y) ? 1 : 0 if $o eq '<>';
	return ($x < $y) ? 1 : 0 if $o eq '<';
	return ($x > $y) ? 1 : 0 if $o eq '>';
	return ($x <= $y) ? 1 : 0 if $o eq '<=';
	return ($x >= $y) ? 1 : 0 if $o eq '>=';
	die "op $o";
}

# Three-valued: 1, 0 or undef (NULL).  $one/$two: hashes or undef (NULL row).
sub eval_cond
{
	my ($c, $one, $two) = @_;
	my ($op, @a) = @$c;
	my $get = sub { my ($side, $col) = @_; my $r = $side eq '1' ? $one : $two; $r ? $r->{$col} : undef };
	if ($op eq 'cmp') { my ($side, $col, $o, $v) = @a; return cmpv($TYPE{$col}, $o, $get->($side, $col), $v) }
	if ($op eq 'isnull') { return defined $get->(@a) ? 0 : 1 }
	if ($op eq 'bool') { my $v = $get->($a[0], 'flag'); return defined $v ? ($v ? 1 : 0) : undef }
	if ($op eq 'gone') { return defined $get->('1', 'id') ? 0 : 1 }
	if ($op eq 'dist')
	{
		my ($x, $y) = ($get->('1', $a[0]), $get->('2', $a[0]));
		return 0 if !defined $x && !defined $y;
		return 1 if !defined $x || !defined $y;
		return cmpv($TYPE{ $a[0] }, '<>', $x, $y);
	}
	if ($op eq 'cmp2') { return cmpv($TYPE{ $a[0] }, $a[1], $get->('1', $a[0]), $get->('2', $a[0])) }
	if ($op eq 'not') { my $x = eval_cond($a[0], $one, $two); return defined $x ? 1 - $x : undef }
	if ($op eq 'and')
	{
		my ($x, $y) = map { eval_cond($_, $one, $two) } @a;
		return 0 if (defined $x && !$x) || (defined $y && !$y);
		return undef if !defined $x || !defined $y;
		return 1;
	}
	if ($op eq 'or')
	{
		my ($x, $y) = map { eval_cond($_, $one, $two) } @a;
		return 1 if $x || $y;
		return undef if !defined $x || !defined $y;
		return 0;
	}
	die "cond $op";
}

sub truth { defined $_[0] && $_[0] ? 1 : 0 }

# A random condition.  $what: 'item1' (over $1 of item: decisions, create
# and delete waits), 'item12' (update waits: $1 and $2), 'item1c' (create
# waits: $2 is NULL there, so it may appear), 'pay' (payment's $1).
sub gen_atom
{
	my ($r, $what) = @_;
	if ($what eq 'pay')
	{
		return $r->chance(0.9)
		  ? [ 'cmp', '1', 'amount', $r->pick('>', '<', '>=', '='), 10 * (1 + $r->int(9)) ]
		  : [ 'isnull', '1', 'amount' ];
	}
	my $two = $what eq 'item12' || $what eq 'item1c';
	my $kind = $r->weighted(n => 35, status => 30, flag => 15, isnull => 5, two => ($two ? 25 : 0),
		gone => ($what eq 'item1' ? 3 : 0));
	my $side = ($two && $r->chance(0.15)) ? '2' : '1';
	return [ 'cmp', $side, 'n', $r->pick('=', '<>', '<', '>', '<=', '>='), $r->int(5) ] if $kind eq 'n';
	return [ 'cmp', $side, 'status', $r->pick('=', '=', '<>'), $r->pick(@STATUS) ] if $kind eq 'status';
	return [ 'bool', $side ] if $kind eq 'flag';
	return [ 'isnull', $side, $r->pick('n', 'status', 'flag') ] if $kind eq 'isnull';
	return [ 'gone' ] if $kind eq 'gone';
	return $r->chance(0.5) ? [ 'dist', $r->pick('n', 'status', 'flag') ] : [ 'cmp2', 'n', $r->pick('>', '<', '=', '<>') ];
}

sub gen_cond
{
	my ($r, $what) = @_;
	my $k = $r->weighted(atom => 70, not => 8, and => 12, or => 10);
	return gen_atom($r, $what) if $k eq 'atom';
	return [ 'not', gen_atom($r, $what) ] if $k eq 'not';
	return [ $k, gen_atom($r, $what), gen_atom($r, $what) ];
}

# ---------------------------------------------------------------------------
# Flows

sub gen_flow
{
	my ($r, %o) = @_;
	my $g = { r => $r, id => 0, no_writes => $o{no_writes} };
	my $seq = gen_seq($g, 0, 0, 1 + $r->int(4));
	my $term = gen_term($g, 0);
	return { seq => $seq, term => $term };
}

sub nid { my ($g) = @_; return ++$g->{id} }

sub gen_seq
{
	my ($g, $depth, $in_split, $n) = @_;
	return [ map { gen_block($g, $depth, $in_split) } 1 .. $n ];
}

sub gen_block
{
	my ($g, $depth, $in_split) = @_;
	my $r = $g->{r};
	my $k = $r->weighted(auto => 30, wait => 32, dec => ($depth < 3 ? 14 : 0), split => ($depth < 3 ? 11 : 0),
		loop => ($depth < 2 ? 9 : 0));
	return gen_auto($g) if $k eq 'auto';
	return gen_wait($g, 0) if $k eq 'wait';
	if ($k eq 'dec')
	{
		my $b = { t => 'dec', id => nid($g), cases => [] };
		for (1 .. ($r->chance(0.7) ? 1 : 2))
		{
			my $c = { cond => gen_cond($r, 'item1'), seq => gen_seq($g, $depth + 1, $in_split, $r->int(3)) };
			$c->{term} = gen_term($g, $depth + 1) if !$in_split && $r->chance(0.2);
			push @{ $b->{cases} }, $c;
		}
		$b->{else} = { seq => gen_seq($g, $depth + 1, $in_split, $r->chance(0.4) ? 0 : 1 + $r->int(2)) };
		return $b;
	}
	if ($k eq 'split')
	{
		my $b = { t => 'split', id => nid($g), fork => ($r->chance(0.75) ? gen_auto($g) : gen_wait($g, 0)) };
		$b->{branches} = [ map { gen_seq($g, $depth + 1, 1, $r->chance(0.1) ? 0 : 1 + $r->int(2)) } 1 .. ($r->chance(0.75) ? 2 : 3) ];
		if ($r->chance(0.3))
		{
			# branches that wait for the same kind of event: one event may close several
			my $ev = $r->pick('update', 'update', 'pay');
			for my $br (@{ $b->{branches} })
			{
				my $w = gen_wait($g, 1);
				$w->{ev} = $ev;
				delete $w->{fields} if $ev eq 'pay';
				$w->{cond} = gen_cond($r, $ev eq 'pay' ? 'pay' : 'item12') if $w->{cond} || $r->chance(0.5);
				unshift @$br, $w;
			}
		}
		return $b;
	}
	# loop: head, a wait, body, and a decision that goes back to the head
	my $b = { t => 'loop', id => nid($g) };
	$b->{head} = $r->chance(0.3) ? [ gen_auto($g) ] : [];
	$b->{wait} = gen_wait($g, 1);
	$b->{body} = [ map { $r->chance(0.8) ? gen_auto($g, 1) : gen_block($g, 3, $in_split) } 1 .. $r->int(3) ];
	$b->{cond} = $r->chance(0.7) ? [ 'cmp', '1', 'n', $r->pick('<', '<='), 1 + $r->int(4) ] : gen_cond($r, 'item1');
	return $b;
}

sub gen_auto
{
	my ($g, $in_loop) = @_;
	my $r = $g->{r};
	my @ops;
	push @ops, ['log'] if $r->chance(0.92);
	my $u = $r->weighted(none => ($in_loop ? 30 : 55), inc => ($in_loop ? 50 : 22), status => 13, flag => 7, n => 3);
	$u = 'none' if $g->{no_writes};
	push @ops, [ 'upd', [ [ 'n', 'inc' ] ] ] if $u eq 'inc';
	push @ops, [ 'upd', [ [ 'status', 'val', $r->pick(@STATUS) ] ] ] if $u eq 'status';
	push @ops, [ 'upd', [ [ 'flag', 'not' ] ] ] if $u eq 'flag';
	push @ops, [ 'upd', [ [ 'n', 'val', $r->int(5) ] ] ] if $u eq 'n';
	@ops = (['log']) unless @ops;
	return { t => 'auto', id => nid($g), ops => \@ops };
}

sub gen_wait
{
	my ($g, $in_loop) = @_;
	my $r = $g->{r};
	my $ev = $in_loop ? $r->weighted(update => 65, pay => 35) : $r->weighted(update => 55, create => 8, delete => 7, pay => 30);
	my $w = { t => 'wait', id => nid($g), ev => $ev };
	if ($ev eq 'update')
	{
		$w->{fields} = [ $r->chance(0.5) ? ($r->pick('n', 'status', 'flag')) : ('status', 'n') ] if $r->chance(0.4);
		$w->{cond} = gen_cond($r, 'item12') if $r->chance($w->{fields} ? 0.5 : 0.8);
	}
	elsif ($ev eq 'create') { $w->{cond} = gen_cond($r, 'item1c') if $r->chance(0.5) }
	elsif ($ev eq 'delete') { $w->{cond} = gen_atom($r, 'item1') if $r->chance(0.3); delete $w->{cond} if $w->{cond} && $w->{cond}[0] eq 'gone' }
	else { $w->{cond} = gen_cond($r, 'pay') if $r->chance(0.5) }
	return $w;
}

sub gen_term
{
	my ($g, $depth) = @_;
	my $r = $g->{r};
	my $k = $r->weighted(end => 70, terminate => 14, fork => ($depth < 2 ? 16 : 0));
	return { t => 'end', id => nid($g), terminate => ($k eq 'terminate' ? 1 : 0) } unless $k eq 'fork';
	my $b = { t => 'fork', id => nid($g), fork => ($r->chance(0.7) ? gen_auto($g) : gen_wait($g, 0)) };
	$b->{branches} = [ map { { seq => gen_seq($g, $depth + 1, 0, $r->int(3)), term => gen_term($g, 2) } } 1 .. 2 ];
	return $b;
}

# ---------------------------------------------------------------------------
# Compiling a tree into a definition.  Returns {acts => {name => def},
# order => [names], start, preds => {join => {from => 1}}, json}.

sub action_sql
{
	my ($ops) = @_;
	my @s;
	for my $op (@$ops)
	{
		if ($op->[0] eq 'log')
		{
			push @s, q{INSERT INTO log VALUES (($3->>'instance')::bigint, $3->>'activity_name', ($1).n, ($1).status)};
		}
		else
		{
			push @s, 'UPDATE item SET ' . join(', ', map { set_sql($_) } @{ $op->[1] }) . ' WHERE id = ($1).id';
		}
	}
	return join('; ', @s);
}

sub set_sql
{
	my ($s) = @_;
	my ($col, $how, $v) = @$s;
	return "$col = $col + 1" if $how eq 'inc';
	return "$col = NOT $col" if $how eq 'not';
	return "$col = " . lit($col, $v);
}

sub compile_flow
{
	my ($flow) = @_;
	my $c = { acts => {}, order => [] };
	my $start = compile_seqterm($c, $flow->{tree}{seq}, $flow->{tree}{term});
	$c->{start} = $start;
	# links into joins
	my %preds;
	for my $name (@{ $c->{order} })
	{
		my $d = $c->{acts}{$name};
		my @t = targets($d);
		for my $t (@t) { $preds{$t}{$name} = 1 if $c->{acts}{$t}{kind} eq 'join' }
	}
	$c->{preds} = \%preds;
	return $c;
}

sub targets
{
	my ($d) = @_;
	my @t;
	for my $n ($d->{next}, $d->{else}, map { $_->{next} } @{ $d->{cases} || [] })
	{
		next unless defined $n;
		push @t, ref $n eq 'ARRAY' ? @$n : ref $n eq 'HASH' ? (map { ref $_ ? @$_ : $_ } values %$n) : $n;
	}
	return @t;
}

sub add_act
{
	my ($c, $name, $d) = @_;
	die "duplicate activity $name" if $c->{acts}{$name};
	$c->{acts}{$name} = $d;
	unshift @{ $c->{order} }, $name;
}

sub compile_seqterm
{
	my ($c, $seq, $term) = @_;
	return compile_seq($c, $seq, compile_term($c, $term), 0);
}

sub compile_term
{
	my ($c, $t) = @_;
	if ($t->{t} eq 'end')
	{
		my $name = ($t->{terminate} ? 't' : 'e') . $t->{id};
		add_act($c, $name, { kind => 'end', ($t->{terminate} ? (terminate => JSON::PP::true) : ()) });
		return $name;
	}
	my @entries = map { compile_seqterm($c, $_->{seq}, $_->{term}) } @{ $t->{branches} };
	return compile_block($c, $t->{fork}, @entries == 1 ? $entries[0] : \@entries);
}

# Compiles blocks back to front; $cont is the name (or, for a fork's
# activity, the array of names) that follows.  When $cont is a join, the
# last activity before it must be one that leads there by one link.
sub compile_seq
{
	my ($c, $seq, $cont, $cont_is_join, $tail_name) = @_;
	my @b = @$seq;
	if ($cont_is_join && (!@b || !single_exit($b[-1])))
	{
		my $name = $tail_name;
		add_act($c, $name, { kind => 'automatic', ops => [ ['log'] ], action => action_sql([ ['log'] ]), next => $cont });
		$cont = $name;
	}
	for my $b (reverse @b)
	{
		$cont = compile_block($c, $b, $cont);
	}
	return $cont;
}

sub single_exit
{
	my ($b) = @_;
	return 1 if $b->{t} eq 'auto' || $b->{t} eq 'wait';
	return 1 if $b->{t} eq 'split' && @{ $b->{branches} } >= 2;
	return 0;
}

sub wait_def
{
	my ($w, $next) = @_;
	my $on = { event => ($w->{ev} eq 'pay' ? 'create' : $w->{ev}) };
	if ($w->{ev} eq 'pay')
	{
		$on->{entity} = 'payment';
		$on->{key} = '($1).item_id';
	}
	$on->{fields} = [ @{ $w->{fields} } ] if $w->{fields} && $w->{ev} eq 'update';
	$on->{condition} = cond_sql($w->{cond}) if $w->{cond};
	return { kind => 'wait', on => $on, ($w->{cond} ? (cond_ast => $w->{cond}) : ()), next => $next };
}

sub compile_block
{
	my ($c, $b, $cont) = @_;
	my $t = $b->{t};
	if ($t eq 'auto')
	{
		my $name = "a$b->{id}";
		add_act($c, $name, { kind => 'automatic', ops => $b->{ops}, action => action_sql($b->{ops}), next => $cont });
		return $name;
	}
	if ($t eq 'wait')
	{
		my $name = "w$b->{id}";
		add_act($c, $name, wait_def($b, $cont));
		return $name;
	}
	if ($t eq 'dec')
	{
		my $name = "d$b->{id}";
		my @cases;
		for my $k (@{ $b->{cases} })
		{
			my $to = $k->{term} ? compile_seqterm($c, $k->{seq}, $k->{term}) : compile_seq($c, $k->{seq}, $cont, 0);
			push @cases, { when => cond_sql($k->{cond}), when_ast => $k->{cond}, next => $to };
		}
		my $else = $b->{else}{term} ? compile_seqterm($c, $b->{else}{seq}, $b->{else}{term})
		  : compile_seq($c, $b->{else}{seq}, $cont, 0);
		add_act($c, $name, { kind => 'decision', cases => \@cases, else => $else });
		return $name;
	}
	if ($t eq 'split')
	{
		my @br = @{ $b->{branches} };
		if (@br < 2)
		{
			my $to = @br ? compile_seq($c, $br[0], $cont, 0) : $cont;
			return compile_block($c, $b->{fork}, $to);
		}
		my $join = "j$b->{id}";
		add_act($c, $join, { kind => 'join', next => $cont });
		my ($direct, @entries) = (0);
		my $k = 0;
		for my $s (@br)
		{
			$k++;
			if (!@$s && !$direct)
			{
				$direct = 1;    # one branch may go straight to the join
				push @entries, $join;
				next;
			}
			push @entries, compile_seq($c, $s, $join, 1, "x$b->{id}_$k");
		}
		return compile_block($c, $b->{fork}, \@entries);
	}
	if ($t eq 'loop')
	{
		my $name = "l$b->{id}";
		my $d = { kind => 'decision', cases => [ { when => cond_sql($b->{cond}), when_ast => $b->{cond}, next => undef } ],
			else => $cont };
		add_act($c, $name, $d);
		my $body = compile_seq($c, $b->{body}, $name, 0);
		my $w = compile_block($c, $b->{wait}, $body);
		my $entry = compile_seq($c, $b->{head}, $w, 0);
		$d->{cases}[0]{next} = $entry;
		return $entry;
	}
	die "block $t";
}

# The definition document procflow gets
sub definition_json
{
	my ($c) = @_;
	my $js = JSON::PP->new->canonical;
	my @lines;
	for my $name (@{ $c->{order} })
	{
		my $d = $c->{acts}{$name};
		my %o = (kind => $d->{kind});
		$o{action} = $d->{action} if exists $d->{action};
		$o{on} = $d->{on} if $d->{on};
		$o{next} = $d->{next} if defined $d->{next};
		$o{terminate} = $d->{terminate} if $d->{terminate};
		if ($d->{kind} eq 'decision')
		{
			$o{cases} = [ map { { when => $_->{when}, next => $_->{next} } } @{ $d->{cases} } ];
			$o{else} = $d->{else};
		}
		push @lines, '  ' . $js->encode($name) . ': ' . $js->encode(\%o);
	}
	return qq({"start": "$c->{start}", "activities": {\n) . join(",\n", @lines) . "}}";
}

# ---------------------------------------------------------------------------
# Statements: [insert, id, {status, n, flag}], [update, [ids], [[col, how, v]]],
# [delete, id], [pay, pid, item, amount], [launch, flow, id],
# [suspend|resume|terminate, flow, id], [disable|enable, flow]

sub stmt_sql
{
	my ($st, $fname) = @_;    # $fname: flow index => name
	my ($op, @a) = @$st;
	if ($op eq 'insert')
	{
		my ($id, $v) = @a;
		return "INSERT INTO item VALUES ($id, " . join(', ', map { lit($_, $v->{$_}) } qw(status n flag)) . ')';
	}
	if ($op eq 'update')
	{
		my ($ids, $sets) = @a;
		my $where = @$ids == 1 ? "id = $ids->[0]" : 'id IN (' . join(', ', @$ids) . ')';
		return 'UPDATE item SET ' . join(', ', map { set_sql($_) } @$sets) . " WHERE $where";
	}
	return "DELETE FROM item WHERE id = $a[0]" if $op eq 'delete';
	return "INSERT INTO payment VALUES ($a[0], $a[1], " . lit('amount', $a[2]) . ')' if $op eq 'pay';
	return 'INSERT INTO payment VALUES ' . join(', ', map { "($_->[0], $_->[1], " . lit('amount', $_->[2]) . ')' } @{ $a[0] })
	  if $op eq 'pays';
	return "SELECT procflow.launch('" . $fname->($a[0]) . "', '$a[1]')" if $op eq 'launch';
	if ($op eq 'suspend' || $op eq 'resume' || $op eq 'terminate')
	{
		return "SELECT procflow.$op(id) FROM procflow.instances WHERE flow = '" . $fname->($a[0])
		  . qq(' AND key = '{"id": $a[1]}');
	}
	return "SELECT procflow.${op}_process('" . $fname->($a[0]) . "')" if $op eq 'disable' || $op eq 'enable';
	die "statement $op";
}

sub txn_sql
{
	my ($txn, $fname) = @_;
	my @s = map { stmt_sql($_, $fname) . ';' } grep { $_->[0] ne 'nodrain' } @$txn;
	return $s[0] // '' if @s <= 1;
	return join("\n", 'BEGIN;', @s, 'COMMIT;');
}

# ---------------------------------------------------------------------------
# Snapshots: lists of tuples of strings (undef: NULL), compared as sorted
# multisets of their printed forms.

sub tuple_text { join(' | ', map { defined $_ ? $_ : 'NULL' } @{ $_[0] }) }

sub canon_snap
{
	my ($s) = @_;
	my %o;
	for my $k (qw(inst act log rows))
	{
		$o{$k} = [ sort map { tuple_text($_) } @{ $s->{$k} || [] } ];
	}
	return \%o;
}

# ---------------------------------------------------------------------------
# A whole case: flows and transactions.  The generator plays the model as
# it goes, so that it can choose what makes sense now (an update an
# instance waits for, the resume of a suspended instance).

sub gen_case
{
	my ($seed, %o) = @_;
	require FlowModel;
	my $r = rng($seed);
	my $nflows = $r->chance(0.2) ? 2 : 1;
	my @flows;
	# The contract orders the jobs of one instance, not those of two: two
	# flows on one row whose steps wrote it would read each other's writes
	# in an order an executor's rounds decide.  So when there are two, only
	# the transactions write the rows; a step's own writes, and events
	# written by a step, are exercised with one flow.
	for my $k (1 .. $nflows)
	{
		push @flows, { name => "f$k", tree => gen_flow($r, no_writes => $nflows > 1),
					   trigger => ($r->chance(0.25) ? 1 : 0) };
	}
	my $case = { seed => $seed, flows => \@flows, txns => [] };
	my $m = FlowModel->new($case);
	my $ntx = 5 + $r->int(12);
	my %used;    # item ids ever inserted
	my $pid = 0;
	my $tries = 0;
	while (@{ $case->{txns} } < $ntx && $tries++ < 200)
	{
		my $txn = gen_txn($r, $m, $case, \%used, \$pid);
		next unless $txn && @$txn;
		# sometimes no job runs before the next transaction: events and
		# steps wait, as when executors lag behind
		push @$txn, ['nodrain'] if $r->chance(0.12);
		my $saved = dclone($m);
		my $ok = eval { $m->play_txn($txn); 1 };
		if (!$ok)
		{
			die $@ unless ref $@ && ref $@ eq 'FlowModel::Invalid';
			$m = $saved;
			next;
		}
		push @{ $case->{txns} }, $txn;
		for (@$txn) { $used{ $_->[1] } = 1 if $_->[0] eq 'insert' }
	}
	# at the end, what is held is released, so that kept events are delivered
	my @finale;
	push @finale, map { [ [ 'enable', $_ ] ] } grep { $m->{flows}[$_]{disabled} } 0 .. $#{ $m->{flows} };
	push @finale, map { [ [ 'resume', $_->{flow}, $_->{key} ] ] } grep { $_->{status} eq 'suspended' } @{ $m->{instances} };
	@finale = reverse @finale if $r->chance(0.5);
	for my $txn (@finale)
	{
		my $saved = dclone($m);
		if (eval { $m->play_txn($txn); 1 }) { push @{ $case->{txns} }, $txn }
		else
		{
			die $@ unless ref $@ && ref $@ eq 'FlowModel::Invalid';
			$m = $saved;
		}
	}
	return $case;
}

sub rand_row
{
	my ($r) = @_;
	return {
		status => $r->chance(0.05) ? undef : $r->pick(@STATUS),
		n      => $r->chance(0.05) ? undef : $r->int(4),
		flag   => $r->chance(0.05) ? undef : $r->int(2),
	};
}

sub rand_sets
{
	my ($r) = @_;
	my @cols = $r->chance(0.7) ? ($r->pick('status', 'n', 'n', 'flag')) : ('status', 'n');
	my @s;
	for my $c (@cols)
	{
		if ($c eq 'n') { push @s, $r->chance(0.6) ? [ 'n', 'inc' ] : [ 'n', 'val', ($r->chance(0.05) ? undef : $r->int(5)) ] }
		elsif ($c eq 'status') { push @s, [ 'status', 'val', ($r->chance(0.05) ? undef : $r->pick(@STATUS)) ] }
		else { push @s, $r->chance(0.5) ? [ 'flag', 'not' ] : [ 'flag', 'val', $r->int(2) ] }
	}
	return \@s;
}

sub gen_txn
{
	my ($r, $m, $case, $used, $pid) = @_;
	my @flows = @{ $m->{flows} };
	my $any_trigger = grep { $_->{trigger} } @flows;
	my @rows = sort { $a <=> $b } keys %{ $m->{rows} };
	my @insts = @{ $m->{instances} };
	my $fi = $r->int(scalar @flows);
	$fi = $r->int(scalar @flows) if $flows[$fi]{disabled};
	my @unlaunched = grep { my $id = $_; !$m->instance_of($fi, $id) } @rows;
	@unlaunched = () if $flows[$fi]{disabled} && $r->chance(0.8);
	my @free = grep { !$m->{rows}{$_} && !($any_trigger && $used->{$_}) } 1 .. 5;
	my @active = grep { $_->{status} eq 'active' } @insts;
	my @susp = grep { $_->{status} eq 'suspended' } @insts;
	my @dis = grep { $flows[$_]{disabled} } 0 .. $#flows;
	my @with_inst = grep { my $id = $_; grep { $_->{key} == $id && $m->alive($_) } @insts } @rows;
	# rows of held instances: events for them are kept
	my @held = map { $_->{key} } grep { $m->alive($_) && $m->held($_) } @insts;
	my $kept = grep { $m->kept_count($_) } @insts;
	@with_inst = @held if @held && $r->chance(0.6);

	my $k = $r->weighted(
		insert        => (@free ? (@rows < 2 ? 40 : 6) : 0),
		launch        => (@unlaunched ? (@with_inst < 2 ? 40 : 12) : 0),
		update        => (@rows ? 40 : 0),
		update2       => (@rows ? 10 : 0),
		launch_update => (@unlaunched ? 10 : 0),
		update_launch => (@unlaunched ? 3 : 0),
		insert_launch => (@free && !$flows[$fi]{trigger} && !$flows[$fi]{disabled} ? 8 : 0),
		multi         => (@rows > 1 ? 3 : 0),
		delete        => (@rows ? 4 : 0),
		pay           => (@rows ? 16 : 2),
		suspend       => (@active ? 6 : 0),
		resume        => (@susp ? ($kept ? 30 : 8) : 0),
		terminate     => (@active || @susp ? 1 : 0),
		disable       => (@dis < @flows ? 4 : 0),
		enable        => (@dis ? ($kept ? 30 : 8) : 0),
		mixed_hold    => (@active || @susp || @dis || @flows ? 5 : 0),
		insert_update => (@free ? 6 : 0),
		delete_insert => (@rows && !$any_trigger ? 2 : 0),
		nothing       => 1);
	my $row = sub { @with_inst && $r->chance(0.85) ? $r->pick(@with_inst) : @rows ? $r->pick(@rows) : 1 + $r->int(5) };
	my $sets = sub { my ($id) = @_; return aimed_sets($r, $m, $id) };
	if ($k eq 'insert') { return [ [ 'insert', $r->pick(@free), rand_row($r) ] ] }
	if ($k eq 'insert_launch') { my $id = $r->pick(@free); return [ [ 'insert', $id, rand_row($r) ], [ 'launch', $fi, $id ] ] }
	if ($k eq 'launch') { return [ [ 'launch', $fi, $r->pick(@unlaunched) ] ] }
	if ($k eq 'update')
	{
		my $id = $r->chance(0.04) ? 1 + $r->int(5) : $row->();
		return [ [ 'update', [$id], $sets->($id) ] ];
	}
	if ($k eq 'update2')
	{
		my $id = $row->();
		return [ map { [ 'update', [$id], ($r->chance(0.5) ? $sets->($id) : rand_sets($r)) ] } 1 .. 2 + ($r->chance(0.2) ? 1 : 0) ];
	}
	if ($k eq 'launch_update')
	{
		my $id = $r->pick(@unlaunched);
		return [ [ 'launch', $fi, $id ], [ 'update', [$id], rand_sets($r) ] ];
	}
	if ($k eq 'update_launch')
	{
		my $id = $r->pick(@unlaunched);
		return [ [ 'update', [$id], rand_sets($r) ], [ 'launch', $fi, $id ] ];
	}
	if ($k eq 'multi') { return [ [ 'update', [ @rows[ 0 .. 1 ] ], rand_sets($r) ] ] }
	if ($k eq 'delete') { return [ [ 'delete', $row->() ] ] }
	if ($k eq 'pay')
	{
		my $item = $row->();
		my @p = ([ 'pay', ++$$pid, $item, ($r->chance(0.05) ? undef : 10 * (1 + $r->int(10))) ]);
		if ($r->chance(0.15))
		{
			# several payments in one statement (one batch of events)
			my $other = $r->chance(0.5) ? $item : $row->();
			@p = ([ 'pays', [ [ $p[0][1], $item, $p[0][3] ], [ ++$$pid, $other, 10 * (1 + $r->int(10)) ] ] ]);
		}
		push @p, [ 'update', [$item], rand_sets($r) ] if $r->chance(0.15) && $m->{rows}{$item};
		return \@p;
	}
	if ($k eq 'suspend') { my $i = $r->pick(@active); return [ [ 'suspend', $i->{flow}, $i->{key} ] ] }
	if ($k eq 'resume') { my $i = $r->pick(@susp); return [ [ 'resume', $i->{flow}, $i->{key} ] ] }
	if ($k eq 'terminate') { my $i = $r->pick(@active, @susp); return [ [ 'terminate', $i->{flow}, $i->{key} ] ] }
	if ($k eq 'disable') { return [ [ 'disable', $r->pick(grep { !$flows[$_]{disabled} } 0 .. $#flows) ] ] }
	if ($k eq 'enable') { return [ [ 'enable', $r->pick(@dis) ] ] }
	if ($k eq 'insert_update')
	{
		# a new row (launched by a create trigger, or here) and its update, in one transaction
		my $id = $r->pick(@free);
		my @t = ([ 'insert', $id, rand_row($r) ]);
		push @t, [ 'launch', $fi, $id ] if !$flows[$fi]{trigger} && !$flows[$fi]{disabled} && $r->chance(0.7);
		push @t, [ 'update', [$id], rand_sets($r) ];
		push @t, [ 'update', [$id], rand_sets($r) ] if $r->chance(0.3);
		return \@t;
	}
	if ($k eq 'delete_insert')
	{
		my $id = $row->();
		return [ [ 'delete', $id ], [ 'insert', $id, rand_row($r) ] ];
	}
	if ($k eq 'mixed_hold')
	{
		# a suspend, resume, disable or enable between writes of one transaction
		my @c;
		push @c, map { [ 'suspend', $_->{flow}, $_->{key} ] } @active;
		push @c, map { [ 'resume', $_->{flow}, $_->{key} ] } @susp;
		push @c, map { [ 'enable', $_ ] } @dis;
		push @c, map { [ 'disable', $_ ] } grep { !$flows[$_]{disabled} } 0 .. $#flows;
		my $h = $r->pick(@c);
		my $id = $h->[0] =~ /suspend|resume/ ? $h->[2] : $row->();
		my @t = ($h);
		unshift @t, [ 'update', [$id], $sets->($id) ] if $r->chance(0.6);
		push @t, ($r->chance(0.7) ? [ 'update', [$id], rand_sets($r) ] : [ 'pay', ++$$pid, $id, 10 * (1 + $r->int(10)) ]);
		return \@t;
	}
	return [ [ 'update', [ 1 + $r->int(5) ], [ [ 'n', 'inc' ] ] ] ];
}

# Updates of a row that some waiting update wait of its instances would
# take, more often than chance would give.
sub aimed_sets
{
	my ($r, $m, $id) = @_;
	my $row = $m->{rows}{$id};
	return rand_sets($r) unless $row && $r->chance(0.6);
	my @w;
	for my $i (@{ $m->{instances} })
	{
		next unless $i->{key} == $id;
		push @w, grep { $_->{kind} eq 'wait' && $_->{status} eq 'waiting' && $_->{def}{on}{event} eq 'update' } @{ $i->{acts} };
	}
	return rand_sets($r) unless @w;
	for (1 .. 10)
	{
		my $s = rand_sets($r);
		my %new = %$row;
		FlowModel::apply_sets(\%new, $s);
		my $ev = { table => 'item', kind => 'update', new => \%new, old => $row };
		return $s if grep { $m->wait_matches(undef, $_, $ev) } @w;
	}
	return rand_sets($r);
}

1;
