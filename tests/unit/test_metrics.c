/*
 * Unit tests for the stats-text to Prometheus conversion
 * (lg_metrics_format, common/metrics.h): names, the node label, counters
 * and gauges, numeric key segments as labels with their families kept
 * together, info samples for text values, cut-off input and duplicates.
 * The HTTP side is covered by tests/integration/metrics.sh.
 */
#define _GNU_SOURCE
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common/metrics.h"

static char *fmt(const char *role, const char *text)
{
	size_t n = 0;
	char *out = lg_metrics_format(role, text, strlen(text), &n);
	ck_assert_ptr_nonnull(out);
	ck_assert_uint_eq(n, strlen(out));
	return out;
}

START_TEST(test_names_and_types)
{
	char *o = fmt("memnode", "connections:2\nbytes_in:100\nrole:memnode\nnode_id:3\n"
				 "requests.p2m_read:7\npgcache.bytes:4096\n"
				 "pgcache.writeback_bytes:9\nstore_connected:1\nweird-key/x:5\n");
	ck_assert_str_eq(o, "# TYPE lego_memnode_bytes_in counter\n"
			    "lego_memnode_bytes_in{node=\"3\"} 100\n"
			    "# TYPE lego_memnode_connections gauge\n"
			    "lego_memnode_connections{node=\"3\"} 2\n"
			    "# TYPE lego_memnode_pgcache_bytes gauge\n"
			    "lego_memnode_pgcache_bytes{node=\"3\"} 4096\n"
			    "# TYPE lego_memnode_pgcache_writeback_bytes counter\n"
			    "lego_memnode_pgcache_writeback_bytes{node=\"3\"} 9\n"
			    "# TYPE lego_memnode_requests_p2m_read counter\n"
			    "lego_memnode_requests_p2m_read{node=\"3\"} 7\n"
			    "# TYPE lego_memnode_store_connected gauge\n"
			    "lego_memnode_store_connected{node=\"3\"} 1\n"
			    "# TYPE lego_memnode_weird_key_x counter\n"
			    "lego_memnode_weird_key_x{node=\"3\"} 5\n");
	free(o);
}
END_TEST

/* node.N.* lines come interleaved; each family must be one group. */
START_TEST(test_numeric_segments)
{
	char *o = fmt("monitor", "node.1.up:1\nnode.1.capacity:10\nnode.2.up:0\n"
				 "node.2.capacity:20\nproc.77.granules:4\n");
	ck_assert_str_eq(o, "# TYPE lego_monitor_node_capacity gauge\n"
			    "lego_monitor_node_capacity{node=\"1\"} 10\n"
			    "lego_monitor_node_capacity{node=\"2\"} 20\n"
			    "# TYPE lego_monitor_node_up gauge\n"
			    "lego_monitor_node_up{node=\"1\"} 1\n"
			    "lego_monitor_node_up{node=\"2\"} 0\n"
			    "# TYPE lego_monitor_proc_granules gauge\n"
			    "lego_monitor_proc_granules{proc=\"77\"} 4\n");
	free(o);
}
END_TEST

START_TEST(test_text_values)
{
	char *o = fmt("storenode", "node_id:2\nroot:/srv/a \"b\"\\c\nproc.5.host:vm\n");
	ck_assert_str_eq(o, "# TYPE lego_storenode_proc_host_info gauge\n"
			    "lego_storenode_proc_host_info{node=\"2\",proc=\"5\",host=\"vm\"} 1\n"
			    "# TYPE lego_storenode_root_info gauge\n"
			    "lego_storenode_root_info"
			    "{node=\"2\",root=\"/srv/a \\\"b\\\"\\\\c\"} 1\n");
	free(o);
}
END_TEST

/* A full stats buffer ends in a cut-off line and a NUL; a line without a
 * colon is not a sample; two keys that sanitise alike give one series. */
START_TEST(test_cut_and_duplicates)
{
	static const char in[] = "a.b:1\na_b:2\nnocolon\nlines:5\nrejects:3\nrejec\0garbage";
	size_t n = 0;
	char *o = lg_metrics_format("x", in, sizeof in - 1, &n);
	ck_assert_ptr_nonnull(o);
	ck_assert_str_eq(o, "# TYPE lego_x_a_b counter\n"
			    "lego_x_a_b 1\n"
			    "# TYPE lego_x_lines gauge\n"
			    "lego_x_lines 5\n"
			    "# TYPE lego_x_rejects counter\n"
			    "lego_x_rejects 3\n");
	free(o);
	o = fmt("x", "");
	ck_assert_str_eq(o, "");
	free(o);
}
END_TEST

static Suite *metrics_suite(void)
{
	Suite *s = suite_create("metrics");
	TCase *tc = tcase_create("format");
	tcase_add_test(tc, test_names_and_types);
	tcase_add_test(tc, test_numeric_segments);
	tcase_add_test(tc, test_text_values);
	tcase_add_test(tc, test_cut_and_duplicates);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	SRunner *sr = srunner_create(metrics_suite());
	srunner_run_all(sr, CK_NORMAL);
	int failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return failed ? EXIT_FAILURE : EXIT_SUCCESS;
}
