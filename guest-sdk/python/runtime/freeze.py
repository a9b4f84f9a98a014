"""freeze.py LIBDIR SDKDIR OUTDIR: compiles the standard library and the
wstream package for the runtime's stdlib bundle.

Run by the build python, which must be the same 3.11 as the runtime (the
marshalled code objects are the interpreter's own format). Each module
becomes OUTDIR/<path>.pyc holding marshal.dumps(code) without a header;
pybuild packs the folder into the bundle.
"""

import marshal
import os
import sys

# Not usable without a file system, processes, sockets or a display, or
# only tests: left out to keep the module small.
SKIP_TOP = {
    "test", "idlelib", "tkinter", "turtledemo", "turtle", "ensurepip",
    "lib2to3", "distutils", "venv", "pydoc_data", "msilib", "site-packages",
    "__phello__", "multiprocessing", "concurrent", "asyncio", "curses", "dbm",
    "sqlite3", "ctypes", "xmlrpc", "wsgiref", "smtplib", "ftplib", "imaplib", "poplib", "nntplib", "telnetlib",
    "socketserver", "webbrowser", "mailbox", "cgi", "cgitb", "pydoc",
    "antigravity", "this", "idlelib",
}
SKIP_DIRS = {"test", "tests", "idle_test", "__pycache__"}


def freeze(src_root, out_root, prefix, skip_top=()):
    count = 0
    for dirpath, dirnames, filenames in os.walk(src_root):
        rel_dir = os.path.relpath(dirpath, src_root)
        top = rel_dir == "."
        dirnames[:] = sorted(d for d in dirnames
                             if d not in SKIP_DIRS and not (top and d in skip_top))
        for name in sorted(filenames):
            if not name.endswith(".py") or (top and name[:-3] in skip_top):
                continue
            rel = os.path.normpath(os.path.join(rel_dir, name))
            with open(os.path.join(dirpath, name), "rb") as f:
                source = f.read()
            code = compile(source, prefix + rel, "exec", dont_inherit=True, optimize=0)
            out = os.path.join(out_root, rel + "c")
            os.makedirs(os.path.dirname(out), exist_ok=True)
            with open(out, "wb") as f:
                f.write(marshal.dumps(code))
            count += 1
    return count


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    if sys.version_info[:2] != (3, 11):
        sys.exit("freeze.py: the build python must be 3.11 (the runtime's version), not %d.%d"
                 % sys.version_info[:2])
    lib, sdk, out = sys.argv[1:]
    n = freeze(lib, out, "/usr/lib/python3.11/", SKIP_TOP)
    n += freeze(sdk, os.path.join(out, "wstream"), "/usr/lib/python3.11/wstream/")
    print("froze %d modules into %s" % (n, out))


if __name__ == "__main__":
    main()
