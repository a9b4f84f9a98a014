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

$(NAME).wasm: $(NAME).ts $(wildcard $(SDK)/assembly/*.ts) | $(ASC)
	$(ASC) $(NAME).ts $(AS_SDK_FLAGS) $(ASFLAGS) -o $@

# npm ci only when the compiler is missing: it wipes node_modules first.
$(ASC):
	cd $(SDK) && npm ci --no-audit --no-fund

clean:
	rm -f $(NAME).wasm
