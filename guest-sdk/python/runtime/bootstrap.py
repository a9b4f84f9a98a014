# bootstrap.py - the first Python code a wstream Python guest runs.
#
# shim.c runs it once the interpreter's core is up but before the standard
# library can be imported: there is no file system, so every module comes
# from a bundle (a passive data segment; see pybuild). It installs one
# importer per bundle and defines run_app, which the shim calls next.
#
# A bundle: b"WSPYBND1", u32 count, u32 index length, then per entry a u16
# path length, the UTF-8 path, u32 offset and u32 length (little endian),
# then the data. Paths ending in .pyc hold marshalled code, .py source; an
# entry ".main" names the author's main module.

import sys
import marshal
import _wstream

_bootstrap = sys.modules["_frozen_importlib"]

STDLIB, APP = 0, 1


def _u32(b, at):
    return int.from_bytes(b[at:at + 4], "little")


def read_index(slot):
    size = _wstream.bundle_read(slot)
    if size == 0:
        return {}
    head = _wstream.bundle_read(slot, 0, 16)
    if head[:8] != b"WSPYBND1":
        raise ImportError("bundle %d is not a wstream Python bundle" % slot)
    count, index_len = _u32(head, 8), _u32(head, 12)
    index = _wstream.bundle_read(slot, 16, index_len)
    entries, at = {}, 0
    for _ in range(count):
        n = int.from_bytes(index[at:at + 2], "little")
        path = index[at + 2:at + 2 + n].decode("utf-8")
        at += 2 + n
        entries[path] = (_u32(index, at), _u32(index, at + 4))
        at += 8
    return entries


class BundleImporter:
    """Finds and loads modules of one bundle (a meta path finder and loader)."""

    def __init__(self, slot, entries, prefix):
        self.slot = slot
        self.entries = entries
        self.prefix = prefix  # shown in __file__ and tracebacks
        self.modules = {}  # module name -> (path, is_package, compiled)
        for path in entries:
            for suffix, compiled in ((".pyc", True), (".py", False)):
                if path.endswith(suffix):
                    name = path[:-len(suffix)]
                    package = name == "__init__" or name.endswith("/__init__")
                    if package:
                        name = name[:-len("/__init__")] if "/" in name else ""
                    if name and (compiled or name.replace("/", ".") not in self.modules):
                        self.modules[name.replace("/", ".")] = (path, package, compiled)

    def read(self, path):
        off, n = self.entries[path]
        return _wstream.bundle_read(self.slot, off, n)

    def origin(self, path):
        if path.endswith(".pyc"):
            path = path[:-1]
        return self.prefix + path

    def find_spec(self, fullname, path=None, target=None):
        m = self.modules.get(fullname)
        if m is None:
            return None
        spec = _bootstrap.ModuleSpec(fullname, self, origin=self.origin(m[0]), is_package=m[1])
        spec.has_location = True
        return spec

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        path, _, compiled = self.modules[module.__spec__.name]
        data = self.read(path)
        if compiled:
            code = marshal.loads(data)
        else:
            code = compile(data, self.origin(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)

    def is_package(self, fullname):
        return self.modules[fullname][1]

    def get_source(self, fullname):
        path, _, compiled = self.modules[fullname]
        if compiled:
            return None
        return self.read(path).decode("utf-8", "replace")

    def get_data(self, path):
        """pkgutil.get_data and friends: a file of the bundle by its path."""
        if path.startswith(self.prefix):
            path = path[len(self.prefix):]
        if path not in self.entries:
            raise FileNotFoundError(path)
        return self.read(path)


stdlib = BundleImporter(STDLIB, read_index(STDLIB), "/usr/lib/python3.11/")
app = BundleImporter(APP, read_index(APP), "")
# After the built-in and frozen importers; the author's files shadow the
# standard library, as a script's folder does on sys.path.
sys.meta_path[2:2] = [app, stdlib]


def run_app():
    """Imports the author's main module; its decorators register functions.
    If that fails, prints the traceback from the author's first frame on
    (the importer's frames say nothing to them) and raises SystemExit."""
    sys.stdout = sys.stderr  # stdout is not the host's to share; print shows in its log
    if ".main" not in app.entries:
        raise ImportError("no Python program is embedded in this module: "
                          "build a plugin with `wstream build app.py -o app.wasm`")
    import wstream
    try:
        wstream._load_app(app.read(".main").decode("utf-8"))
    except BaseException as e:
        import traceback
        tb = e.__traceback__
        while tb and tb.tb_frame.f_code.co_filename not in app_files:
            tb = tb.tb_next
        frames = [f for f in traceback.extract_tb(tb)
                  if not f.filename.startswith(("<frozen importlib", "<wstream"))]
        if frames:
            print("Traceback (most recent call last):", file=sys.stderr)
            print("".join(traceback.format_list(frames)), end="", file=sys.stderr)
        traceback.print_exception(type(e), e, None, file=sys.stderr)
        raise SystemExit(1)


app_files = {app.origin(p) for p in app.entries}
