package main

import (
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"github.com/urfave/cli/v2"
	"github.com/wstream/wstream/abi"
	guestsdk "github.com/wstream/wstream/guest-sdk"
)

// A new plugin is written from templates and SDK sources that are both in
// the binary, so `wstream new` works from any folder with a copied binary
// and the folder it writes builds anywhere: it holds its SDK and no path
// of this machine.
//
// templates/ has defs.tmpl (shared Makefile and README parts), all/ (files
// every language gets: README, .gitignore, the golden test's data) and one
// folder per language with its defs.tmpl (its name, what it needs, its
// files), its starter, its test and its Makefile. In file names NAME is the
// plugin's name and IDENT the name as an identifier; a .tmpl file is a
// text/template, anything else is copied.

//go:embed templates
var scaffoldTemplates embed.FS

// scaffold is what a language adds to its templates.
type scaffold struct {
	// sdk returns the SDK files to write into the plugin folder, by path.
	sdk func(name string) (map[string][]byte, error)
	// reserved are names the plugin cannot take in this language, and why.
	reserved    []string
	reservedWhy string
}

var scaffolds = map[string]scaffold{
	"go": {sdk: goSDK, reserved: goStdNames,
		reservedWhy: "a Go plugin is a module of that name, which would shadow the standard library's package"},
	"c":              {sdk: copySDK("c", ".")},
	"rust":           {sdk: copySDK("rust", ".")},
	"assemblyscript": {sdk: assemblyScriptSDK},
	"python":         {sdk: copySDK("python/wstream", "wstream")},
}

var pluginName = regexp.MustCompile(`^[a-z][a-z0-9_-]*$`)

// sdkNames are the SDKs' own file and package names (NAME.c beside the
// SDK's wstream.c, or a package named like the SDK's).
var sdkNames = []string{"wstream", "wstream-sdk"}

// goStdNames are the first elements of the standard library's package
// paths: a module named like one does not build (an ambiguous import).
var goStdNames = strings.Fields(`all archive bufio builtin bytes cmd cmp compress container context crypto
	database debug embed encoding errors expvar flag fmt go hash html image index internal io iter log maps
	math mime net os path plugin reflect regexp runtime slices sort std strconv strings structs sync syscall
	testing text time unicode unique unsafe vendor weak`)

func newCommand() *cli.Command {
	langs := make([]string, 0, len(scaffolds))
	for l := range scaffolds {
		langs = append(langs, l)
	}
	slices.Sort(langs)
	return &cli.Command{
		Name:      "new",
		Usage:     "create a plugin folder that builds, tests and runs with the commands it prints",
		ArgsUsage: "NAME",
		Description: `Creates NAME/ with a starter plugin in the chosen language (a word count:
split-words, pair-with-one, sum and a default pipeline), its guest SDK,
a Makefile (make builds NAME.wasm; make test runs wstream check and the
default pipeline over testdata/input.txt against testdata/expected.txt,
plus go test for Go) and a README. It needs no checkout of wstream, and
the folder holds no path of this machine.

Examples:
   wstream new --lang go myplugin && cd myplugin && make test
   wstream new --lang rust --dir ~/plugins myplugin`,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "lang", Usage: "plugin language: " + strings.Join(langs, ", "), Value: "go"},
			&cli.StringFlag{Name: "dir", Usage: "create the folder inside `DIR`", Value: "."},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("new takes the plugin's name, e.g. wstream new --lang go myplugin")
			}
			name, lang := c.Args().First(), c.String("lang")
			sc, ok := scaffolds[lang]
			if !ok {
				return usagef("--lang %q: use one of %s", lang, strings.Join(langs, ", "))
			}
			if err := checkName(name, lang); err != nil {
				return err
			}
			dir := filepath.Join(c.String("dir"), name)
			if _, err := os.Lstat(dir); err == nil {
				return usagef("%s already exists; choose another name, or remove it first", dir)
			}
			defs, err := languageTemplates(lang)
			if err != nil {
				return err
			}
			files, err := renderScaffold(defs, lang, name)
			if err != nil {
				return err
			}
			sdk, err := sc.sdk(name)
			if err != nil {
				return fmt.Errorf("copying the %s SDK: %w", lang, err)
			}
			for p, b := range sdk {
				files[p] = b
			}
			if err := writeFolder(dir, files); err != nil {
				return err
			}
			return printNextSteps(c.App.Writer, defs, dir, name)
		},
	}
}

func checkName(name, lang string) error {
	if !pluginName.MatchString(name) {
		return usagef("plugin name %q: use lower-case letters, digits, - and _, starting with a letter (e.g. my-plugin)", name)
	}
	if slices.Contains(sdkNames, name) {
		return usagef("plugin name %q is the SDK's own name; choose another", name)
	}
	if sc := scaffolds[lang]; slices.Contains(sc.reserved, name) {
		return usagef("plugin name %q: %s %q; choose another", name, sc.reservedWhy, name)
	}
	return nil
}

// templateData is what the templates see.
type templateData struct {
	Name    string // the plugin's name
	Ident   string // the name as an identifier (- becomes _)
	Version string // wstream's version, which the SDK files come from
}

func newTemplateData(name string) templateData {
	return templateData{Name: name, Ident: strings.ReplaceAll(name, "-", "_"), Version: version}
}

// languageTemplates parses the shared definitions, then the language's own
// (which define "language", "needs", "test-does" and "files").
func languageTemplates(lang string) (*template.Template, error) {
	t := template.New("").Option("missingkey=error")
	for _, p := range []string{"templates/defs.tmpl", "templates/" + lang + "/defs.tmpl"} {
		text, err := scaffoldTemplates.ReadFile(p)
		if err != nil {
			return nil, err
		}
		if _, err := t.New(p).Parse(string(text)); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// renderScaffold executes every template of all/ and of the language's folder and
// returns the files, by their path in the plugin folder.
func renderScaffold(defs *template.Template, lang, name string) (map[string][]byte, error) {
	data := newTemplateData(name)
	files := map[string][]byte{}
	for _, root := range []string{"templates/all", "templates/" + lang} {
		err := fs.WalkDir(scaffoldTemplates, root, func(p string, d fs.DirEntry, err error) error {
			if err != nil || d.IsDir() || p == root+"/defs.tmpl" {
				return err
			}
			text, err := scaffoldTemplates.ReadFile(p)
			if err != nil {
				return err
			}
			out := strings.ReplaceAll(strings.TrimPrefix(p, root+"/"), "NAME", name)
			out = strings.ReplaceAll(out, "IDENT", data.Ident)
			if out == "gitignore.tmpl" {
				out = ".gitignore.tmpl"
			}
			if strings.HasSuffix(out, ".tmpl") {
				out = strings.TrimSuffix(out, ".tmpl")
				t, err := defs.Clone()
				if err == nil {
					_, err = t.New(p).Parse(string(text))
				}
				var b bytes.Buffer
				if err == nil {
					err = t.ExecuteTemplate(&b, p, data)
				}
				if err != nil {
					return fmt.Errorf("the %s template %s: %w", lang, p, err)
				}
				text = b.Bytes()
			}
			files[out] = text
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return files, nil
}

// goSDK vendors the Go SDK into the plugin's module as the package
// NAME/wstream, and abi, which it imports, as NAME/wstream/abi: the module
// then needs no other module, no checkout and no network.
func goSDK(name string) (map[string][]byte, error) {
	files := map[string][]byte{}
	imports := strings.NewReplacer(strconv.Quote("github.com/wstream/wstream/abi"), strconv.Quote(name+"/wstream/abi"))
	if err := copyEmbedded(files, guestsdk.Files, "go", "wstream", imports); err != nil {
		return nil, err
	}
	if err := copyEmbedded(files, abi.Source, ".", "wstream/abi", imports); err != nil {
		return nil, err
	}
	return files, nil
}

// copySDK copies an SDK's files (guest-sdk/FROM) into the folder TO of
// the plugin, as they are.
func copySDK(from, to string) func(string) (map[string][]byte, error) {
	return func(string) (map[string][]byte, error) {
		files := map[string][]byte{}
		return files, copyEmbedded(files, guestsdk.Files, from, to, nil)
	}
}

// assemblyScriptSDK copies the SDK package into wstream-sdk/ and writes a
// package.json and package-lock.json that pin the same compiler as the
// SDK's and link "wstream-sdk" to that folder.
func assemblyScriptSDK(name string) (map[string][]byte, error) {
	const dir = "wstream-sdk"
	files := map[string][]byte{}
	if err := copyEmbedded(files, guestsdk.Files, "assemblyscript/assembly", dir, nil); err != nil {
		return nil, err
	}
	var pkg, lock map[string]any
	for f, v := range map[string]*map[string]any{"package.json": &pkg, "package-lock.json": &lock} {
		b, err := guestsdk.Files.ReadFile("assemblyscript/" + f)
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
	}
	packages, err1 := jsonObject(lock, "packages")
	root, err2 := jsonObject(packages, "")
	sdk, err3 := jsonObject(packages, "assembly")
	link, err4 := jsonObject(packages, "node_modules/wstream-sdk")
	lockDeps, err5 := jsonObject(root, "devDependencies")
	pkgDeps, err6 := jsonObject(pkg, "devDependencies")
	if err := errors.Join(err1, err2, err3, err4, err5, err6); err != nil {
		return nil, fmt.Errorf("package-lock.json or package.json has an unexpected shape: %w", err)
	}
	pkg["name"], lock["name"], root["name"] = name, name, name
	pkg["description"] = name + ": a wstream plugin in AssemblyScript"
	pkgDeps["wstream-sdk"], lockDeps["wstream-sdk"] = "file:"+dir, "file:"+dir
	packages[dir] = sdk
	delete(packages, "assembly")
	link["resolved"] = dir
	for f, v := range map[string]any{"package.json": pkg, "package-lock.json": lock} {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false) // npm writes ">=20", not "\u003e=20"
		enc.SetIndent("", "  ")
		if err := enc.Encode(v); err != nil {
			return nil, err
		}
		files[f] = b.Bytes()
	}
	return files, nil
}

// jsonObject returns m[key] as a JSON object.
func jsonObject(m map[string]any, key string) (map[string]any, error) {
	o, ok := m[key].(map[string]any)
	if !ok {
		return nil, fmt.Errorf("no object %q", key)
	}
	return o, nil
}

// copyEmbedded adds the files of fsys under from to files, under to, with
// rewrite (if any) applied to their text.
func copyEmbedded(files map[string][]byte, fsys fs.FS, from, to string, rewrite *strings.Replacer) error {
	return fs.WalkDir(fsys, from, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		if rewrite != nil {
			b = []byte(rewrite.Replace(string(b)))
		}
		rel := strings.TrimPrefix(strings.TrimPrefix(p, from), "/")
		files[path.Join(to, rel)] = b
		return nil
	})
}

// writeFolder writes files into a new folder dir, all or nothing: into a
// hidden folder beside it first, renamed to dir once complete.
func writeFolder(dir string, files map[string][]byte) error {
	parent := filepath.Dir(dir)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".new-")
	if err != nil {
		return err
	}
	err = os.Chmod(tmp, 0o755)
	for p, b := range files {
		if err != nil {
			break
		}
		f := filepath.Join(tmp, filepath.FromSlash(p))
		if err = os.MkdirAll(filepath.Dir(f), 0o755); err == nil {
			err = os.WriteFile(f, b, 0o644)
		}
	}
	if err == nil {
		err = os.Rename(tmp, dir)
	}
	if err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("writing %s: %w", dir, err)
	}
	return nil
}

// printNextSteps prints the commands that build, test and run the plugin,
// to be typed as they are. They call wstream by name when that finds this
// binary, else by this binary's absolute path.
func printNextSteps(w io.Writer, defs *template.Template, dir, name string) error {
	part := func(t string) string {
		var b strings.Builder
		if err := defs.ExecuteTemplate(&b, t, newTemplateData(name)); err != nil {
			return t
		}
		return b.String()
	}
	exe, onPath := wstreamCommand()
	ws, makeAll, makeTest := "wstream", "make", "make test"
	if !onPath {
		ws = shellQuote(exe)
		makeTest += " WSTREAM=" + ws
		if defs.Lookup("make-runs-wstream") != nil {
			makeAll += " WSTREAM=" + ws
		}
	}
	fmt.Fprintf(w, "Created %s: a plugin in %s, a word count to start from (%s says more).\n",
		dir, part("language"), filepath.Join(dir, "README.md"))
	fmt.Fprintf(w, "It needs %s. Next:\n\n", part("needs"))
	steps := [][2]string{
		{"cd " + shellQuote(dir), ""},
		{makeAll, part("make-does")},
		{makeTest, part("test-does")},
		{ws + " run --plugin " + name + ".wasm --clock manual < testdata/input.txt", ""},
	}
	width := max(len(makeTest), len(makeAll), len("make test"+" WSTREAM=/path/to/wstream")) // the comments line up
	for _, s := range steps {
		if s[1] == "" {
			fmt.Fprintf(w, "    %s\n", s[0])
		} else {
			fmt.Fprintf(w, "    %-*s  # %s\n", width, s[0], s[1])
		}
	}
	if !onPath {
		fmt.Fprintf(w, "\nwstream is not on your PATH, so these name this binary; add %s to PATH to type just wstream.\n", filepath.Dir(exe))
	}
	return nil
}

// wstreamCommand returns this binary's absolute path, and whether PATH
// finds this very file as "wstream".
func wstreamCommand() (string, bool) {
	exe, err := os.Executable()
	if err != nil {
		return "", true
	}
	if p, err := exec.LookPath("wstream"); err == nil {
		a, errA := os.Stat(p)
		b, errB := os.Stat(exe)
		if errA == nil && errB == nil && os.SameFile(a, b) {
			return "wstream", true
		}
	}
	return exe, false
}

// shellQuote quotes s for a POSIX shell when it has anything but plain
// path characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-+=:,@") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
