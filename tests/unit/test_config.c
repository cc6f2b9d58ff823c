/*
 * test_config.c -- the option parser on good, bad and hostile text.
 */
#include "kernel/config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/harness.h"

static int parse(struct agent_config *cfg, const char *text)
{
	return config_parse(cfg, text, strlen(text), "test");
}

TEST(config_defaults_match_design)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(cfg.agent.server_port, 1024);
	CHECK_EQ(cfg.agent.log_port, 1025);
	CHECK_EQ(cfg.diag_services, 0);
	CHECK(cfg.pool_mib >= 2);
	CHECK(strcmp(cfg.test_fault, "none") == 0);
}

TEST(config_parses_all_separators_and_comments)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.server_port=2000\tagent.log_port=0x10\n"
	                     "# agent.pool_mib=99 is commented out\n"
	                     "agent.diag_services=yes # trailing comment\r\n"
	                     "agent.pool_mib=8"),
	         0);
	CHECK_EQ(cfg.agent.server_port, 2000);
	CHECK_EQ(cfg.agent.log_port, 16);
	CHECK_EQ(cfg.diag_services, 1);
	CHECK_EQ(cfg.pool_mib, 8);
}

TEST(config_later_source_overrides)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.log_port=5000"), 0);
	CHECK_EQ(parse(&cfg, "agent.log_port=6000"), 0);
	CHECK_EQ(cfg.agent.log_port, 6000);
}

TEST(config_unknown_key_is_reported_with_text)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.bogus=7 agent.server_port=3"), 1);
	CHECK_EQ(cfg.agent.server_port, 3);
	CHECK_EQ(parse(&cfg, "agent.bogus=7"), 1);
	CHECK(strstr(harness_last_log, "unknown option 'agent.bogus=7'") != NULL);
}

TEST(config_malformed_values_keep_previous)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.server_port=12ab"), 1);
	CHECK(strstr(harness_last_log, "'12ab'") != NULL);
	CHECK_EQ(parse(&cfg, "agent.server_port="), 1);
	CHECK_EQ(parse(&cfg, "agent.server_port=4294967296"), 1);
	CHECK_EQ(parse(&cfg, "agent.server_port=99999999999999999999999"), 1);
	CHECK_EQ(parse(&cfg, "agent.server_port=-1"), 1);
	CHECK_EQ(parse(&cfg, "agent.server_port=0"), 1);
	CHECK_EQ(parse(&cfg, "agent.server_port=0x"), 1);
	CHECK_EQ(parse(&cfg, "agent.pool_mib=100000"), 1);
	CHECK_EQ(parse(&cfg, "agent.diag_services=maybe"), 1);
	CHECK_EQ(parse(&cfg, "test.fault=explode"), 1);
	CHECK_EQ(cfg.agent.server_port, 1024);
	CHECK_EQ(cfg.diag_services, 0);
	CHECK(strcmp(cfg.test_fault, "none") == 0);
}

TEST(config_tokens_without_equals_and_empty_keys)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "justaword =5 agent.log_port=7"), 2);
	CHECK_EQ(cfg.agent.log_port, 7);
}

TEST(config_overlong_and_binary_tokens_are_rejected)
{
	struct agent_config cfg;
	char text[2000];

	config_defaults(&cfg);
	memset(text, 'a', sizeof(text));
	memcpy(text, "agent.log_port=", 15);
	CHECK_EQ(config_parse(&cfg, text, sizeof(text), "test"), 1);
	CHECK(strstr(harness_last_log, "longer than") != NULL);

	const char binary[] = "agent.log_port=\x01\x02 agent.server_port=9";
	CHECK_EQ(config_parse(&cfg, binary, sizeof(binary) - 1, "test"), 1);
	CHECK_EQ(cfg.agent.log_port, 1025);
	CHECK_EQ(cfg.agent.server_port, 9);
}

TEST(config_embedded_nul_ends_a_token)
{
	struct agent_config cfg;
	const char text[] = "agent.log_port=77\0agent.server_port=88";

	config_defaults(&cfg);
	CHECK_EQ(config_parse(&cfg, text, sizeof(text) - 1, "test"), 0);
	CHECK_EQ(cfg.agent.log_port, 77);
	CHECK_EQ(cfg.agent.server_port, 88);
}

TEST(config_random_bytes_never_crash)
{
	struct agent_config cfg;
	char *buf = malloc(4096);

	srand(7);
	for (int round = 0; round < 2000; round++) {
		size_t len = rand() % 4096;

		for (size_t i = 0; i < len; i++) {
			static const char alphabet[] = "agent.pol_mibsrv=0x19 #\n\t\xff";
			buf[i] = (rand() % 4) ? alphabet[rand() % (sizeof(alphabet) - 1)] :
			                        (char)rand();
		}
		config_defaults(&cfg);
		config_parse(&cfg, buf, len, "fuzz");
		CHECK(cfg.pool_mib >= 1 && cfg.pool_mib <= 1024);
		CHECK(memchr(cfg.test_fault, '\0', sizeof(cfg.test_fault)) != NULL);
	}
	free(buf);
}

TEST(config_agent_keys_go_to_the_agent_table)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.allowed_cids=2,3"), 0);
	CHECK_EQ(cfg.agent.n_allowed_cids, 2);
	CHECK_EQ(cfg.agent.allowed_cids[0], 2);
	CHECK_EQ(cfg.agent.allowed_cids[1], 3);
	CHECK_EQ(parse(&cfg, "agent.allowed_cids=bad"), 1);
	CHECK(strstr(harness_last_log, "not an accepted value") != NULL);
	CHECK(strstr(harness_last_log, "agent.allowed_cids='bad'") != NULL);
	CHECK(strstr(harness_last_log, "keeping '2,3'") != NULL);
	CHECK_EQ(cfg.agent.n_allowed_cids, 2);
	CHECK_EQ(parse(&cfg, "agent.other=1"), 1);
	CHECK(strstr(harness_last_log, "unknown option") != NULL);
	CHECK_EQ(parse(&cfg, "agent.allowed_cids=any agent.allowed_methods=Check,Version "
	                     "agent.boot_id=b-1 agent.stack_kib=64 agent.pipe_kib=0x10 "
	                     "agent.max_containers=5 agent.max_procs=3 agent.log_ring=16"),
	         0);
	CHECK_EQ(cfg.agent.n_allowed_cids, 0);
	CHECK(strcmp(cfg.agent.allowed_methods, "Check,Version") == 0);
	CHECK(strcmp(cfg.agent.boot_id, "b-1") == 0);
	CHECK_EQ(cfg.agent.stack_bytes, 64 << 10);
	CHECK_EQ(cfg.agent.pipe_bytes, 16 << 10);
	CHECK_EQ(cfg.agent.max_containers, 5);
	CHECK_EQ(cfg.agent.max_procs, 3);
	CHECK_EQ(cfg.agent.log_ring, 16);
	CHECK_EQ(parse(&cfg, "agent.allowed_methods=all"), 0);
	CHECK_EQ(cfg.agent.allowed_methods[0], '\0');
}

TEST(config_agent_values_are_range_checked_with_their_text)
{
	struct agent_config cfg;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.stack_kib=4"), 1); /* below 8 KiB */
	CHECK(strstr(harness_last_log, "agent.stack_kib='4' is not a number in [8, 1024]; "
	                               "keeping 32") != NULL);
	CHECK_EQ(cfg.agent.stack_bytes, 32 << 10);
	CHECK_EQ(parse(&cfg, "agent.log_ring=100000"), 1);
	CHECK_EQ(cfg.agent.log_ring, 1024);
	CHECK_EQ(parse(&cfg, "agent.boot_id=a\"b"), 1);
	CHECK_EQ(cfg.agent.boot_id[0], '\0');
	CHECK_EQ(parse(&cfg, "agent.allowed_cids=1,,2 agent.allowed_cids=4294967296 "
	                     "agent.allowed_cids=1,2,3,4,5,6,7,8,9 agent.allowed_cids=-1"),
	         4);
	CHECK_EQ(cfg.agent.n_allowed_cids, 1);
	CHECK_EQ(cfg.agent.allowed_cids[0], 2);
	/* the agent's own setter is the same table */
	CHECK_EQ(agent_option_set(&cfg.agent, "agent.server_port", "77"), 0);
	CHECK_EQ(cfg.agent.server_port, 77);
	CHECK_EQ(agent_option_set(&cfg.agent, "agent.server_port", "0"), -EINVAL);
	CHECK_EQ(agent_option_set(&cfg.agent, "agent.pool_mib", "8"), -ENOENT);
}

/* Each key has one owner: no key is in two tables, or twice in one. */
TEST(config_every_key_has_one_owner)
{
	const struct option_table *tables[] = { &kernel_option_table, &agent_option_table };
	unsigned seen_server_port = 0;

	for (size_t a = 0; a < 2; a++)
		for (size_t i = 0; i < tables[a]->count; i++) {
			const char *key = tables[a]->descs[i].key;

			seen_server_port += strcmp(key, "agent.server_port") == 0;
			for (size_t b = a; b < 2; b++)
				for (size_t j = b == a ? i + 1 : 0; j < tables[b]->count; j++)
					CHECK(strcmp(key, tables[b]->descs[j].key) != 0);
		}
	CHECK_EQ(seen_server_port, 1);
}

TEST(config_dump_lists_both_tables)
{
	struct agent_config cfg;
	unsigned before;

	config_defaults(&cfg);
	CHECK_EQ(parse(&cfg, "agent.allowed_cids=2,5 agent.stack_kib=48"), 0);
	before = harness_log_count;
	config_dump(&cfg);
	CHECK_EQ(harness_log_count - before, kernel_option_table.count + agent_option_table.count);
	CHECK(strcmp(harness_last_log, "  agent.boot_id=\n") == 0);
}
