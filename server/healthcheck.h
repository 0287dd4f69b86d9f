/* healthcheck.h: `lmserve --healthcheck`: probe a running server's GET /health (exit 0 when
 * it answers 200, 1 when not, 2 on bad flags). See healthcheck.c. */
#ifndef LMSERVE_HEALTHCHECK_H
#define LMSERVE_HEALTHCHECK_H

/* 1 when argv holds --healthcheck. */
int healthcheck_wanted(int argc, char **argv);
/* Run the probe with the rest of argv (same flags/env/config as the server); exit status. */
int healthcheck_main(int argc, char **argv);

#endif
