# b24trigger: build, test, demo, bench, fuzz, install.
#
#   make              build build/ngx_http_b24trigger_module.so against
#                     Debian's nginx-dev (or NGINX_SRC=/path/to/nginx-x.y.z)
#   make test         the whole suite (prove t/), against /usr/sbin/nginx
#   make demo         emulator + nginx + one webhook, then stop
#   make demo-cluster two nodes + Redis: an event survives a node's loss
#   make test-valgrind, make bench, make soak, make fuzz,
#   make install / uninstall

SHELL        := /bin/bash
NGINX_SRC    ?= /usr/share/nginx/src
NGINX_BIN    ?= /usr/sbin/nginx
# relative, so that a clone in a folder with spaces builds (make and
# nginx's configure both split on spaces); scripts get "$(CURDIR)/..."
BUILD        := build
MODULE       := $(BUILD)/ngx_http_b24trigger_module.so
MODULE_ABS    = "$(CURDIR)/$(MODULE)"
DESTDIR      ?=
MODULES_DIR  ?= /usr/lib/nginx/modules
JOBS         ?= 2
FUZZ_TIME    ?= 30

# what each target needs from Debian (checked by deps-*, installed as root)
# (nginx-dev only when building against Debian's tree, not NGINX_SRC=...)
PKG_BUILD    := nginx $(if $(filter /usr/share/nginx/src,$(NGINX_SRC)),nginx-dev) \
                gcc make libcurl4-openssl-dev libjansson-dev libssl-dev \
                libhiredis-dev dpkg-dev
PKG_TEST     := $(PKG_BUILD) python3 perl curl openssl procps \
                redis-server redis-sentinel chromium
PKG_VALGRIND := $(PKG_TEST) valgrind
PKG_BENCH    := $(PKG_TEST) wrk
PKG_FUZZ     := $(PKG_BUILD) clang libclang-rt-14-dev
# (deb: always nginx-dev, whose dh_nginx and tree the package is built
# with; dpkg-buildpackage needs no fakeroot: Rules-Requires-Root: no;
# git lists the files the package is built from)
PKG_DEB      := $(sort $(PKG_BUILD) nginx-dev debhelper dpkg-dev lintian git)
PKG_DEPS     := build test valgrind bench fuzz deb

SOURCES      := config debian/changelog ngx_http_b24trigger_module.c \
                $(wildcard src/*.[ch])

# the status page's files, compiled in: the C file is made from them and
# checked in (nginx's configure and dh_nginx use it as it is)
DASHBOARD    := $(wildcard src/dashboard/*)
ASSETS_C     := src/ngx_http_b24trigger_status_assets.c
SOURCES      += $(ASSETS_C)

# which nginx tree the module was built against: another one rebuilds it
SRC_STAMP    := $(BUILD)/.nginx-src
$(shell mkdir -p $(BUILD); [ "$$(cat $(SRC_STAMP) 2>/dev/null)" = \
        "$(NGINX_SRC)" ] || echo "$(NGINX_SRC)" > $(SRC_STAMP))

.PHONY: all build $(addprefix deps-,$(PKG_DEPS)) deps-node \
        test test-valgrind demo demo-cluster bench soak fuzz fuzz-smoke install uninstall \
        clean style deb

all: build

# the deps-* steps may call apt-get: never two at once
.NOTPARALLEL:

build: deps-build $(MODULE)

# One explicit rule per package set: make skips pattern rules for .PHONY
# targets, so a "deps-%" rule would silently never run.  Each deps-* step
# runs before anything is built (the module's order-only prerequisite).
define deps_rule
deps-$(1):
	@tools/deps.sh $$(PKG_$(shell echo $(1) | tr a-z A-Z))
endef
$(foreach d,$(PKG_DEPS),$(eval $(call deps_rule,$(d))))

# The module is configured with the exact flags of the nginx it will be
# loaded into (--with-compat and the rest), read from nginx-dev's conf_flags
# when building against Debian's tree, and compiled as the Debian package
# compiles and links it (dh's nginx_mod build system: dpkg-buildflags'
# CFLAGS and LDFLAGS, with the hardening and the LTO debian/rules asks
# for), so that tests and make bench run the code that is installed:
# nginx's own default is -O, the package's -O2 and -flto (gcc inlines
# across the module's files: bench/README.md, issue 18).
# (CC_OPT=... and LD_OPT=... on the command line replace them; a change
# rebuilds: the stamp is rewritten only when they differ.  Expanded in
# recipes only, so that nothing runs before deps-build.)
DEB_MAINT    := hardening=+all optimize=+lto
CC_OPT       ?= $(shell export DEB_BUILD_MAINT_OPTIONS="$(DEB_MAINT)"; \
                  f=$$(dpkg-buildflags --get CFLAGS 2>/dev/null) \
                  && echo "$$f -fPIC $$(dpkg-buildflags --get CPPFLAGS)" \
                  || echo "-g -O2 -fPIC")
LD_OPT       ?= $(shell export DEB_BUILD_MAINT_OPTIONS="$(DEB_MAINT)"; \
                  f=$$(dpkg-buildflags --get LDFLAGS 2>/dev/null) \
                  && echo "$$f -fPIC" || echo "")
CC_STAMP     := $(BUILD)/.cc-opt
LD_STAMP     := $(BUILD)/.ld-opt

$(CC_STAMP): FORCE | deps-build
	@o="$(CC_OPT)"; [ "$$(cat $@ 2>/dev/null)" = "$$o" ] || echo "$$o" > $@

$(LD_STAMP): FORCE | deps-build
	@o="$(LD_OPT)"; [ "$$(cat $@ 2>/dev/null)" = "$$o" ] || echo "$$o" > $@

FORCE:

$(MODULE): $(SOURCES) $(SRC_STAMP) $(CC_STAMP) $(LD_STAMP) | deps-build
	@mkdir -p $(BUILD)
	@if [ ! -f $(BUILD)/nginx/configure ] || \
	    [ "$$(cat $(BUILD)/nginx/.b24-source 2>/dev/null)" != "$(NGINX_SRC)" ]; \
	then \
	    rm -rf $(BUILD)/nginx && cp -r "$(NGINX_SRC)" $(BUILD)/nginx \
	    && echo "$(NGINX_SRC)" > $(BUILD)/nginx/.b24-source; fi
	@cd $(BUILD)/nginx && flags=(--with-compat); \
	    if [ -f conf_flags ]; then . ./conf_flags; \
	        flags=("$${NGX_CONF_FLAGS[@]}"); fi; \
	    if [ ! -f objs/Makefile ] || \
	       ! grep -q b24trigger objs/Makefile || [ ../../config -nt objs/Makefile ] \
	       || [ ../../debian/changelog -nt objs/Makefile ] \
	       || ! cmp -s .b24-cc-opt ../.cc-opt \
	       || ! cmp -s .b24-ld-opt ../.ld-opt; then \
	        ./configure "$${flags[@]}" --with-cc-opt="$$(cat ../.cc-opt)" \
	            --with-ld-opt="$$(cat ../.ld-opt)" $(NGX_EXTRA_FLAGS) \
	            --add-dynamic-module=../.. > ../configure.log 2>&1 \
	        || { tail -20 ../configure.log; exit 1; }; \
	        cp ../.cc-opt .b24-cc-opt; cp ../.ld-opt .b24-ld-opt; fi
	@set -o pipefail; $(MAKE) -s -C $(BUILD)/nginx -f objs/Makefile modules \
	    -j$(JOBS) 2>&1 | { grep -v '^make' || true; }
	@test -f $(BUILD)/nginx/objs/ngx_http_b24trigger_module.so
	@cp $(BUILD)/nginx/objs/ngx_http_b24trigger_module.so $(MODULE).tmp && mv -f $(MODULE).tmp $(MODULE)
	@echo "built $(MODULE)"

$(ASSETS_C): $(DASHBOARD) tools/dashboard-assets.pl
	@tools/dashboard-assets.pl > $@.tmp && mv -f $@.tmp $@
	@echo "made $@ from src/dashboard/"

# the npm packages of t/node (tools/deps-node.sh), after the Debian ones
deps-node: deps-test
	@tools/deps-node.sh

test: deps-test deps-node $(MODULE)
	B24_MODULE=$(MODULE_ABS) NGINX_BIN=$(NGINX_BIN) \
	    prove -I t/lib $(PROVE_FLAGS) $(if $(T),$(addprefix t/,$(T)),t/)

test-valgrind: deps-valgrind deps-node $(MODULE)
	B24_MODULE=$(MODULE_ABS) NGINX_BIN=$(NGINX_BIN) B24_VALGRIND=1 \
	    prove -I t/lib $(PROVE_FLAGS) $(if $(T),$(addprefix t/,$(T)),t/)

demo: deps-test $(MODULE)
	@tools/demo.sh $(MODULE_ABS) $(NGINX_BIN)

demo-cluster: deps-test $(MODULE)
	@tools/demo-cluster.sh $(MODULE_ABS) $(NGINX_BIN)

bench: deps-bench $(MODULE)
	@bench/run.sh $(MODULE_ABS) $(NGINX_BIN)

soak: deps-test $(MODULE)
	@bench/soak.sh $(MODULE_ABS) $(NGINX_BIN)

fuzz: deps-fuzz
	@fuzz/run.sh $(FUZZ_TIME)

fuzz-smoke: deps-fuzz
	@fuzz/run.sh 5

install: $(MODULE)
	install -d $(DESTDIR)$(MODULES_DIR)
	install -m 644 $(MODULE) $(DESTDIR)$(MODULES_DIR)/
	install -d $(DESTDIR)/usr/share/nginx/modules-available
	echo 'load_module modules/ngx_http_b24trigger_module.so;' \
	    > $(DESTDIR)/usr/share/nginx/modules-available/mod-http-b24trigger.conf
	install -d $(DESTDIR)/etc/nginx/modules-enabled
	ln -sf /usr/share/nginx/modules-available/mod-http-b24trigger.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-b24trigger.conf

uninstall:
	rm -f $(DESTDIR)$(MODULES_DIR)/ngx_http_b24trigger_module.so \
	    $(DESTDIR)/usr/share/nginx/modules-available/mod-http-b24trigger.conf \
	    $(DESTDIR)/etc/nginx/modules-enabled/50-mod-http-b24trigger.conf

# The Debian package, built the way Debian builds its nginx modules
# (debhelper with dh-sequence-nginx: nginx-dev's tree, "nginx -t" as the
# test unless DEB_BUILD_OPTIONS=nocheck, dh_nginx), from a copy of the
# files git tracks (and new ones it does not ignore), so that nothing is
# written outside build/; then lintian, which must report no error and no
# warning that debian/*.lintian-overrides does not explain.
DEB_VERSION   = $(shell dpkg-parsechangelog -l debian/changelog -S Version)
DEB_ARCH      = $(shell dpkg --print-architecture)
DEB_NAME      = libnginx-mod-http-b24trigger_$(DEB_VERSION)_$(DEB_ARCH)
DEB           = $(BUILD)/$(DEB_NAME).deb

deb: deps-deb
	@git rev-parse --git-dir >/dev/null 2>&1 \
	    || { echo "make deb: the package is built from the files git" \
	              "tracks: run it in a git checkout" >&2; exit 1; }
	@rm -rf $(BUILD)/deb $(DEB) && mkdir -p $(BUILD)/deb/src
	@git ls-files -z --cached --others --exclude-standard \
	    | tar --null -T - --ignore-failed-read -cf - \
	    | tar -xf - -C $(BUILD)/deb/src
	@echo "dpkg-buildpackage -b -us -uc in $(BUILD)/deb/src" \
	    "(log: $(BUILD)/deb/build.log)"
	@log="$$(cd $(BUILD)/deb && pwd)/build.log"; \
	    cd $(BUILD)/deb/src && dpkg-buildpackage -b -us -uc -j$(JOBS) \
	    > "$$log" 2>&1 || { tail -40 "$$log"; exit 1; }
	@cp $(BUILD)/deb/$(DEB_NAME).deb $(DEB)
	@echo "lintian $(BUILD)/deb/$(DEB_NAME).changes"
	@lintian --allow-root --fail-on error,warning $(BUILD)/deb/$(DEB_NAME).changes
	@echo "built $(DEB)"

style:
	@tools/style.sh

clean:
	rm -rf $(BUILD)
