/* cmd_version.c - `airlock version`: version, revision, build, CPU features. */
#include "cli/cli.h"

#include <stdio.h>

#ifndef AIRLOCK_VERSION
#define AIRLOCK_VERSION "0.0.0"
#endif
#ifndef AIRLOCK_GIT_REV
#define AIRLOCK_GIT_REV "unknown"
#endif
#ifndef AIRLOCK_BUILD_FLAGS
#define AIRLOCK_BUILD_FLAGS "unknown"
#endif

int cmd_version(struct cli *cli, int argc, char **argv)
{
	char feat[256];

	(void)cli; (void)argc; (void)argv;
	cpu_features_str(feat, sizeof feat);
	printf("airlock %s\n", AIRLOCK_VERSION);
	printf("revision: %s\n", AIRLOCK_GIT_REV);
	printf("build: %s, %s, compiler %s\n", AIRLOCK_BUILD_FLAGS,
	       __DATE__, __VERSION__);
	printf("cpu features: %s\n", feat);
	return EXIT_OK;
}
