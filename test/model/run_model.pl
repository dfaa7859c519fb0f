#!/usr/bin/perl
# Runs the flow model test against a running server, outside the TAP test:
#   perl test/model/run_model.pl --connstr 'host=/tmp port=5432 dbname=postgres' \
#        --mode det --seed 1 --cases 200
# --only 17         run case 17 of the seed only (prints it)
# --print           print the cases as SQL instead of running them
# --shrink N        shrink the first N mismatches (default 3)
# --shrink-seconds  time budget of one shrink (default 120)
# The server must preload procflow; for --mode det it must run no executor
# for the database (procflow.database = ''), for --mode live it must.
use strict;
use warnings;
use FindBin;
use lib $FindBin::RealBin;
use Getopt::Long;
use Time::HiRes qw(time);
use FlowGen;
use FlowModel;
use FlowRunner;
use JSON::PP;

my %o = (mode => 'det', seed => $ENV{PROCFLOW_MODEL_SEED} // 1, cases => $ENV{PROCFLOW_MODEL_CASES} // 100,
	shrink => 3, 'shrink-seconds' => 120, psql => 'psql');
GetOptions(\%o, 'connstr=s', 'mode=s', 'seed=i', 'cases=i', 'from=i', 'only=i', 'print', 'shrink=i',
	'shrink-seconds=i', 'psql=s', 'trace', 'case=s', 'stats') or die "bad options\n";
my @idx = defined $o{only} ? ($o{only}) : (($o{from} // 1) .. ($o{from} // 1) + $o{cases} - 1);

# a case saved from a report (its "-- {...}" JSON line)
if ($o{case})
{
	open my $fh, '<', $o{case} or die "$o{case}: $!\n";
	my ($line) = grep { /^-- \{/ } <$fh>;
	$line =~ s/^-- //;
	my $case = JSON::PP->new->decode($line);
	my ($model, $m) = FlowRunner::play_model($case, trace => 1, mode => $o{mode});
	die "the model refuses this case\n" unless $model;
	print FlowRunner::case_sql($case, mode => $o{mode});
	print "-- model trace:\n", map { "--   $_\n" } @{ $m->{trace} };
	exit 0 unless $o{connstr};
	my $sess = FlowRunner::Psql->new(connstr => $o{connstr}, psql => $o{psql});
	my $db = FlowRunner::play_db($sess, $case, mode => $o{mode}, model => $model);
	my $mm = FlowRunner::compare($model, $db);
	print $mm ? FlowRunner::report($case, $mm, mode => $o{mode}) : "-- no mismatch\n";
	exit($mm ? 1 : 0);
}

if ($o{stats})
{
	for my $i (@idx)
	{
		my $case = FlowGen::gen_case(FlowRunner::case_seed($o{seed}, $i));
		FlowRunner::play_model($case);
	}
	printf "%-34s %d\n", $_, $FlowModel::STATS{$_} for sort keys %FlowModel::STATS;
	exit 0;
}

if ($o{print})
{
	for my $i (@idx)
	{
		my $case = FlowGen::gen_case(FlowRunner::case_seed($o{seed}, $i));
		@$case{qw(seed index)} = ($o{seed}, $i);
		print FlowRunner::case_sql($case, mode => $o{mode});
		if ($o{trace})
		{
			my ($out, $m) = FlowRunner::play_model($case, trace => 1, mode => $o{mode});
			print "-- model trace:\n", map { "--   $_\n" } @{ $m->{trace} } if $m;
			print "-- model after each transaction:\n";
			my $k = 0;
			for my $t (@{ $out || [] })
			{
				$k++;
				print "-- transaction $k: ", ($t->{err} // 'committed'), "\n", map { "--  $_\n" } split /\n/, FlowRunner::snap_text($t->{snap});
			}
		}
	}
	exit 0;
}

die "--connstr is required\n" unless $o{connstr};
my $sess = FlowRunner::Psql->new(connstr => $o{connstr}, psql => $o{psql});
$sess->safe('CREATE EXTENSION IF NOT EXISTS procflow');
my $t0 = time;
my ($ok, $bad) = (0, 0);
my $failed = FlowRunner::run_suite(
	session => $sess, mode => $o{mode}, seed => $o{seed}, indexes => \@idx, shrink => $o{shrink},
	shrink_seconds => $o{'shrink-seconds'},
	cb => sub {
		my ($i, $pass, $text) = @_;
		$pass ? $ok++ : $bad++;
		print $pass ? "ok $i\n" : "MISMATCH $i\n$text\n";
	});
printf "%d cases, %d matched, %d mismatched (%s) in %.1fs\n", $ok + $bad, $ok, $bad, join(',', @$failed), time - $t0;
$sess->quit;
exit($bad ? 1 : 0);
