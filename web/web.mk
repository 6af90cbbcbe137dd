# web/web.mk - the dashboard's assets, included by the main Makefile.
#
# web/package-lock.json (committed) pins Chart.js and playwright-core; `npm ci`
# installs them into web/node_modules when that is missing or older than the
# lockfile. Chart.js's UMD build is copied to web/static/vendor/ (git-ignored),
# then scripts/embed-web.sh turns everything under web/static/ into
# $(BUILD)/gen/web_assets.c, which defines web_asset_find() (web/web.h).
#
# Linking: this file is included after the link rules, so it adds the object
# itself - as an extra prerequisite of $(BIN) (whose recipe links $^) and of
# the unit tests, and to LIBOBJS (whose use in the test recipe is expanded
# only when the recipe runs). The main Makefile needs no other change.

WEB_NPM_STAMP := web/node_modules/.package-lock.json
WEB_CHARTJS   := web/static/vendor/chart.umd.min.js
WEB_STATIC    := $(filter-out web/static/vendor/%,$(shell find web/static -type f ! -name '.*' 2>/dev/null))
WEB_ASSETS_C  := $(BUILD)/gen/web_assets.c
WEB_ASSETS_O  := $(BUILD)/gen/web_assets.o

$(BIN): $(WEB_ASSETS_O)
$(UNIT_BINS): $(WEB_ASSETS_O)
LIBOBJS += $(WEB_ASSETS_O)

.PHONY: web web-clean browser-test
web: $(WEB_ASSETS_C)

# npm ci rewrites node_modules/.package-lock.json; touch it so that make sees
# it newer than the lockfile even when npm kept the old timestamp.
$(WEB_NPM_STAMP): web/package-lock.json web/package.json
	cd web && npm ci --no-audit --no-fund
	@touch $@

$(WEB_CHARTJS): $(WEB_NPM_STAMP)
	@mkdir -p $(dir $@)
	@# the source map is not shipped, so drop the comment that points at it
	sed '/^\/\/# sourceMappingURL=/d' web/node_modules/chart.js/dist/chart.umd.min.js > $@.tmp && mv $@.tmp $@

$(WEB_ASSETS_C): scripts/embed-web.sh $(WEB_STATIC) $(WEB_CHARTJS)
	@mkdir -p $(dir $@)
	./scripts/embed-web.sh web/static $@

$(WEB_ASSETS_O): $(WEB_ASSETS_C) web/web.h
	$(CC) $(CFLAGS) -I. -c -o $@ $<

# The headless-Chromium test of the dashboard against `tally up --demo`.
browser-test: $(BIN)
	BIN=$(BIN) ./tests/browser/run.sh

web-clean:
	rm -rf web/static/vendor
clean: web-clean

-include $(BUILD)/gen/web_assets.d
