# plugin.mk builds one AssemblyScript wstream plugin, NAME.ts -> NAME.wasm
# beside it, with the compiler this folder's package.json pins. A plugin's
# Makefile sets SDK (the path of this folder) and NAME, then includes it:
#
#   SDK := ../../../guest-sdk/assemblyscript
#   NAME := conformance
#   include $(SDK)/plugin.mk
#
# The flags, and why:
#   --path                 resolves "wstream-sdk" through the node_modules
#                          of $(SDK), which links assembly/ (the SDK package).
#   --runtime minimal      TLSF + a GC that collects only when asked: the SDK
#                          collects at the end of each wstream_call, when
#                          only globals are alive. No shadow stack (faster
#                          than incremental); memory is freed (unlike stub).
#   --exportStart          top-level code (registration) runs in _initialize,
#                          which the host calls first, as for a WASI reactor.
#   --use abort=           routes abort to the SDK (log + trap) instead of an
#                          env.abort import, which the host would refuse.
#   -O3 --noAssert         speed; the SDK validates input itself.

ASC := $(SDK)/node_modules/.bin/asc
ASFLAGS ?= -O3 --noAssert
AS_SDK_FLAGS := --path $(SDK)/node_modules --runtime minimal --exportStart _initialize \
	--use abort=~lib/wstream-sdk/abort/wstreamAbort

.PHONY: all clean
all: $(NAME).wasm

# npm ci (which wipes node_modules first) only when the compiler is missing
# or package-lock.json changed since the last install. A recipe, not a
# target, so that make -B does not reinstall.
$(NAME).wasm: $(NAME).ts $(wildcard $(SDK)/assembly/*.ts) $(SDK)/package-lock.json
	@test $(SDK)/node_modules/.package-lock.json -nt $(SDK)/package-lock.json -a -x $(ASC) || \
		(cd $(SDK) && npm ci --no-audit --no-fund)
	$(ASC) $(NAME).ts $(AS_SDK_FLAGS) $(ASFLAGS) -o $@

clean:
	rm -f $(NAME).wasm
