# `make plugins` builds every plugin under plugins/ from source into a .wasm
# beside it: Go plugins here, the others by their own Makefiles.

GO ?= go
GO_WASM = GOOS=wasip1 GOARCH=wasm $(GO) build -buildmode=c-shared -trimpath

# Go plugins: every plugins/NAME/ with a main.go builds to plugins/NAME/NAME.wasm.
GO_PLUGINS := $(patsubst %/main.go,%,$(wildcard plugins/*/main.go))
GO_PLUGIN_WASM := $(foreach p,$(GO_PLUGINS),$(p)/$(notdir $(p)).wasm)

# Plugins in other languages: every plugins/NAME/LANG/ with a Makefile builds
# NAME.wasm itself (C, Rust, AssemblyScript). One at a time: the two
# AssemblyScript plugins share the SDK's npm install.
OTHER_PLUGINS := $(patsubst %/Makefile,%,$(wildcard plugins/*/*/Makefile))

.PHONY: plugins go-plugins other-plugins clean-plugins FORCE

plugins: go-plugins other-plugins

other-plugins:
	@for d in $(OTHER_PLUGINS); do $(MAKE) -s -C $$d || exit 1; done

go-plugins: $(GO_PLUGIN_WASM)

# Always ask go: its cache knows the real dependencies (SDK, abi, go.sum,
# toolchain), and it leaves an up-to-date .wasm untouched (~0.1 s).
$(GO_PLUGIN_WASM): FORCE
	$(GO_WASM) -o $@ ./$(dir $@)

clean-plugins:
	rm -f $(GO_PLUGIN_WASM)
	@for d in $(OTHER_PLUGINS); do $(MAKE) -s -C $$d clean; done

# ---- the two commands of the README, and what CI runs ----

.PHONY: build demo test check toolchains bench

# build puts the CLI in bin/wstream.
build:
	$(GO) build -o bin/wstream ./cmd/wstream

# demo: word count over the bundled sample text, one batch per line (a
# manual clock, so it runs as fast as the data allows and then exits). It
# builds only what it runs, the CLI and the Go word count: Go alone is
# enough.
demo: build
	bin/wstream demo

# toolchains installs what the non-Go plugins and tests need, if missing.
toolchains:
	@.ci/toolchains

# check fails on unformatted code, vet findings and an untidy go.mod.
check:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { gofmt -l $$(git ls-files '*.go'); echo 'gofmt: run gofmt -w on the files above'; exit 1; }
	$(GO) vet ./...
	$(GO) vet -tags bench ./cmd/wstream
	$(GO) mod tidy -diff

test: toolchains check plugins
	$(GO) test -race -count=1 -timeout 30m ./...

# bench: the benchmark suite (bench/README.md), in a binary built with the
# bench tag (the suite is not linked into the plain build). It builds its own guests and
# the Benthos peer (bench/benthos, a separate module) and prints a Markdown
# report; BENCH_FLAGS=--short is the quick smoke run.
bench: plugins
	$(GO) build -tags bench -o bin/wstream ./cmd/wstream
	bin/wstream bench $(BENCH_FLAGS)

# ---- the examples (examples/*/README.md): each generates its data, runs
# its pipelines and shows the result ----

.PHONY: example-fraud example-logs

# FRAUD_FLAGS sizes the data (go run ./examples/fraud/gen -h).
example-fraud: build go-plugins
	$(GO) run ./examples/fraud/gen -dir examples/fraud $(FRAUD_FLAGS)
	cd examples/fraud && ../../bin/wstream run --pipeline cards.yaml && ../../bin/wstream run --pipeline bursts.yaml
	$(GO) run ./examples/fraud/gen -dir examples/fraud -check

# LOGS_FLAGS sizes the log (go run ./examples/logs/gen -h).
example-logs: build go-plugins
	$(GO) run ./examples/logs/gen -dir examples/logs $(LOGS_FLAGS)
	cd examples/logs && ../../bin/wstream run --pipeline logs.yaml
	$(GO) run ./examples/logs/gen -dir examples/logs -report

.PHONY: example-online-training

# TRAINING_FLAGS sizes the data (go run ./examples/online-training/gen -h).
example-online-training: build go-plugins
	$(GO) run ./examples/online-training/gen -dir examples/online-training $(TRAINING_FLAGS)
	cd examples/online-training && ../../bin/wstream run --pipeline linear.yaml && ../../bin/wstream run --pipeline kmeans.yaml
	$(GO) run ./examples/online-training/gen -dir examples/online-training -report

# LAMBDA_KAPPA_FLAGS sizes the log (go run ./examples/lambda-kappa/gen -h).
# Each run starts over: the checkpoints and views of the last one go first.
.PHONY: example-lambda-kappa
example-lambda-kappa: build
	$(GO) run ./examples/lambda-kappa/gen -dir examples/lambda-kappa $(LAMBDA_KAPPA_FLAGS)
	cd examples/lambda-kappa && rm -rf ckpt-v1 ckpt-v2 batch-view.jsonl speed-view.jsonl kappa-v1.jsonl kappa-v2.jsonl && \
	../../bin/wstream run --pipeline views.yaml --source 'file:archive.jsonl?format=json' --clock system --sink jsonl:batch-view.jsonl && \
	../../bin/wstream run --pipeline views.yaml && \
	../../bin/wstream run --pipeline views-v1.yaml --checkpoint ckpt-v1 && \
	../../bin/wstream run --pipeline views.yaml --source batches:log.jsonl --checkpoint ckpt-v2 --sink jsonl:kappa-v2.jsonl
	$(GO) run ./examples/lambda-kappa/gen -dir examples/lambda-kappa -serve $(LAMBDA_KAPPA_FLAGS)

# IOT_FLAGS sizes the data (go run ./examples/iot/gen -h).
.PHONY: example-iot
example-iot: build go-plugins
	$(GO) run ./examples/iot/gen -dir examples/iot $(IOT_FLAGS)
	cd examples/iot && ../../bin/wstream run --pipeline drift.yaml
	$(GO) run ./examples/iot/gen -dir examples/iot -check
