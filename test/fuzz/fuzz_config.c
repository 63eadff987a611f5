// SPDX-License-Identifier: GPL-2.0-or-later
/* libFuzzer harness for the config loader (ctrl/config*.c): the input is written to one temp file, which
 * config_load parses and validates with its error report going to /dev/null. A success must give a config
 * that config_free releases completely (LeakSanitizer runs at exit and on -detect_leaks), a failure must
 * return -1 and hand out nothing, having freed its partial state itself. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cvpn/config.h"

#include "fuzz.h"

static char path[64];
static FILE *devnull;

static void remove_temp(void)
{
	if (path[0])
		unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");
	int fd;

	snprintf(path, sizeof(path), "%s/cvpn-fuzz-config.XXXXXX", tmp && *tmp && strlen(tmp) < 32 ? tmp : "/tmp");
	fd = mkstemp(path);
	FUZZ_ASSERT(fd >= 0);
	close(fd);
	atexit(remove_temp);
	devnull = fopen("/dev/null", "w");
	FUZZ_ASSERT(devnull);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct config *cfg = NULL;
	FILE *f;
	int ret;

	f = fopen(path, "w");
	FUZZ_ASSERT(f);
	FUZZ_ASSERT(fwrite(data, 1, size, f) == size);
	FUZZ_ASSERT(fclose(f) == 0);

	ret = config_load(path, devnull, &cfg);
	if (ret == 0) {
		FUZZ_ASSERT(cfg);
		FUZZ_ASSERT(cfg->client_cidr.len <= 32);
		config_free(cfg);
	} else {
		FUZZ_ASSERT(ret == -1);
		FUZZ_ASSERT(!cfg); /* nothing half-built handed out */
	}
	return 0;
}
