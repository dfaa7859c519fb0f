# Flow pictures render: the DOT of flow_graph() goes through Graphviz's
# dot without an error or a warning, with every activity and link drawn,
# for flows of every kind of activity and for names that need quoting.
use strict;
use warnings;
use IPC::Run qw(run);
use PostgreSQL::Test::Cluster;
use PostgreSQL::Test::Utils;
use Test::More;
use ProcflowTest;

my $node = procflow_node('pictures', '');
$node->start;
$node->safe_psql('postgres', q{
CREATE EXTENSION procflow;
CREATE TABLE invoice (id int PRIMARY KEY, amount numeric, status text);
SELECT procflow.create_flow('invoice', 'invoice', $${
  "start": "number",
  "activities": {
    "number":    {"kind": "automatic", "action": "SELECT 1", "next": "size"},
    "size":      {"kind": "decision", "cases": [{"when": "($1).amount > 10000 AND ($1).status <> 'x'", "next": "split"}],
                  "else": "wait_paid"},
    "split":     {"kind": "automatic", "action": "SELECT 1", "next": ["left", "right"]},
    "left":      {"kind": "automatic", "action": "SELECT 2", "next": "both"},
    "right":     {"kind": "wait", "timeout": "1 hour", "next": "both"},
    "both":      {"kind": "join", "next": "wait_paid"},
    "wait_paid": {"kind": "wait", "on": {"event": "update", "fields": ["status"]},
                  "timeout": "30 days", "next": {"event": "paid", "timeout": "remind"}},
    "remind":    {"kind": "automatic", "action": "SELECT 3", "next": ["wait_paid", "give_up"]},
    "give_up":   {"kind": "end", "terminate": true},
    "paid":      {"kind": "end"}
  }}$$);
SELECT procflow.create_flow('odd "name" \ here', NULL, $${"start": "a \"quoted\" \\\\ name",
  "activities": {"a \"quoted\" \\\\ name": {"kind": "wait", "timeout": "1 s", "next": "line\nbreak"},
                 "line\nbreak": {"kind": "end"}}}$$);
});

foreach my $flow ('invoice', 'odd "name" \ here')
{
	my $dot = $node->safe_psql('postgres',
		"SELECT procflow.flow_graph(\$f\$$flow\$f\$)");
	my ($svg, $err);
	ok(run([ 'dot', '-Tsvg' ], '<', \$dot, '>', \$svg, '2>', \$err),
		"dot renders the picture of \"$flow\"");
	is($err, '', 'without a warning');
	my $nodes = () = $svg =~ /<g id="node\d+" class="node">/g;
	my $edges = () = $svg =~ /<g id="edge\d+" class="edge">/g;
	my $expected = $node->safe_psql('postgres', qq{
		SELECT jsonb_array_length(jsonb_path_query_array(definition, '\$.activities.*')) + 1
		  FROM procflow.flow_versions WHERE flow = \$f\$$flow\$f\$});
	is($nodes, $expected, 'a node per activity, and the start');
	$expected = $node->safe_psql('postgres', qq{
		SELECT count(*) FROM regexp_matches(procflow.flow_graph(\$f\$$flow\$f\$), ' -> ', 'g')});
	is($edges, $expected, 'an arrow per link');
}

$node->stop;
done_testing();
