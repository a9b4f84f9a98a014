# plugin.mk builds Python wstream plugins, each NAME.py of a plugin's
# folder (or just PROGRAMS) into NAME.wasm beside it: a copy of the Python
# runtime module with the program embedded, as `wstream build` makes it.
# The runtime is built first if needed (once; make keeps it). A plugin's
# Makefile sets SDK (the path of this folder) and includes it:
#
#   SDK := ../../../guest-sdk/python
#   include $(SDK)/plugin.mk

GO ?= go
PROGRAMS ?= $(patsubst %.py,%.wasm,$(wildcard *.py))
PY_RUNTIME := $(SDK)/_build/python-runtime.wasm

.PHONY: all clean FORCE
all: $(PROGRAMS)

%.wasm: %.py $(PY_RUNTIME)
	cd $(SDK) && $(GO) run ./cmd/pybuild -runtime _build/python-runtime.wasm -o $(CURDIR)/$@ $(CURDIR)/$<

# Always asked, so that a changed shim or SDK rebuilds the runtime (and
# then the plugins); make leaves an up-to-date runtime untouched.
$(PY_RUNTIME): FORCE
	$(MAKE) -s -C $(SDK) runtime

clean:
	rm -f $(PROGRAMS)
