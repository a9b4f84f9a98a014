# `make plugins` builds every plugin under plugins/ from source into a .wasm
# beside it. Plugins in another language add their own target (say
# rust-plugins) as a prerequisite of `plugins`.

GO ?= go
GO_WASM = GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath

# Go plugins: every plugins/NAME/ with a main.go builds to plugins/NAME/NAME.wasm.
GO_PLUGINS := $(patsubst %/main.go,%,$(wildcard plugins/*/main.go))
GO_PLUGIN_WASM := $(foreach p,$(GO_PLUGINS),$(p)/$(notdir $(p)).wasm)

.PHONY: plugins go-plugins clean-plugins FORCE

plugins: go-plugins

go-plugins: $(GO_PLUGIN_WASM)

# Always ask go: its cache knows the real dependencies (SDK, abi, go.sum,
# toolchain), and it leaves an up-to-date .wasm untouched (~0.1 s).
$(GO_PLUGIN_WASM): FORCE
	$(GO_WASM) -o $@ ./$(dir $@)

clean-plugins:
	rm -f $(GO_PLUGIN_WASM)
