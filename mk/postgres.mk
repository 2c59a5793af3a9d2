# A throw-away PostgreSQL cluster for the control room's PostgreSQL store tests
# (scripts/test-postgres.sh). `make postgres-start` installs Debian's postgresql if missing, makes a cluster in a
# temporary directory owned by the `postgres` user (PostgreSQL refuses to run as root), trusts loopback only, and
# listens on 127.0.0.1:$(PG_TEST_PORT); the URL is written to $(PG_TEST_URL_FILE). `make postgres-stop` stops it
# and removes the directory. `make test` starts it before the test passes and stops it after.
.PHONY: postgres-start postgres-stop

PG_TEST_PORT ?= 54329
PG_TEST_DIR ?= /tmp/panicbridge-pg-$(PG_TEST_PORT)
PG_TEST_URL_FILE := $(PG_TEST_DIR)/url
PG_TEST_URL := postgres://postgres@127.0.0.1:$(PG_TEST_PORT)/postgres
## What the test passes run with: the suites' PostgreSQL cases read the URL from it (and fail under CI without it).
PG_TEST_ENV := PANICBRIDGE_TEST_POSTGRES=$(PG_TEST_URL)

postgres-start:
	@PG_TEST_PORT=$(PG_TEST_PORT) PG_TEST_DIR=$(PG_TEST_DIR) scripts/test-postgres.sh start

postgres-stop:
	@PG_TEST_PORT=$(PG_TEST_PORT) PG_TEST_DIR=$(PG_TEST_DIR) scripts/test-postgres.sh stop
