// Package pgtest runs a real PostgreSQL server for tests: the one Debian's
// postgresql package installs (which .ci/toolchains does), initialised
// into a temporary folder and listening on a free loopback port. The
// server refuses to run as root, so under root it runs as the postgres
// user the package creates.
//
// Each DB is a fresh database. A package whose TestMain runs its tests
// through Main shares one server among them, started on the first call to
// DB and stopped by Main; elsewhere each test that calls DB gets a server
// of its own, stopped when the test ends.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// pg is one server.
type pg struct {
	once sync.Once
	err  error
	skip string
	cmd  *exec.Cmd
	dir  string
	port int
	log  string // the servers' output
	dbs  atomic.Int64
}

// shared is the server of a package that runs its tests through Main.
var shared struct {
	on  bool
	srv pg
}

// Main runs the tests of a package whose tests share one server, and
// stops it afterwards: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }.
func Main(m *testing.M) int {
	shared.on = true
	code := m.Run()
	shared.srv.stop()
	return code
}

// DB creates a new database and returns its URL,
// postgres://postgres@127.0.0.1:PORT/NAME. Without PostgreSQL installed the
// test is skipped, or fails under CI.
func DB(t testing.TB) string {
	t.Helper()
	srv := &shared.srv
	if !shared.on {
		srv = &pg{}
		t.Cleanup(srv.stop)
	}
	srv.once.Do(srv.start)
	if srv.skip != "" {
		if os.Getenv("CI") != "" {
			t.Fatal(srv.skip + "; .ci/toolchains installs it")
		}
		t.Skip(srv.skip)
	}
	if srv.err != nil {
		out, _ := os.ReadFile(srv.log)
		t.Fatalf("PostgreSQL: %v\n%s", srv.err, out)
	}
	name := fmt.Sprintf("test%d", srv.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, srv.url("postgres"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatal(err)
	}
	return srv.url(name)
}

func (srv *pg) url(db string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s", srv.port, db)
}

func (srv *pg) stop() {
	if srv.cmd != nil {
		srv.cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		done := make(chan struct{})
		go func() { srv.cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			srv.cmd.Process.Kill()
			<-done
		}
		srv.cmd = nil
	}
	if srv.dir != "" {
		os.RemoveAll(srv.dir)
		srv.dir = ""
	}
}

// bin finds a PostgreSQL program: on the PATH, or in Debian's versioned
// folder (the newest).
func bin(name string) (string, error) {
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	found, _ := filepath.Glob("/usr/lib/postgresql/*/bin/" + name)
	if len(found) == 0 {
		return "", fmt.Errorf("%s not found", name)
	}
	sort.Slice(found, func(i, j int) bool { return version(found[i]) > version(found[j]) })
	return found[0], nil
}

func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

func (srv *pg) start() {
	initdb, err := bin("initdb")
	if err != nil {
		srv.skip = "PostgreSQL is not installed (apt-get install postgresql)"
		return
	}
	postgres, err := bin("postgres")
	if err != nil {
		srv.skip = "PostgreSQL is not installed (apt-get install postgresql)"
		return
	}
	if srv.dir, err = os.MkdirTemp("", "wstream-pg-"); err != nil {
		srv.err = err
		return
	}
	var cred *syscall.Credential
	if os.Getuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			srv.err = fmt.Errorf("running as root, the server needs the postgres user that Debian's package creates: %w", err)
			return
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(srv.dir, uid, gid); err != nil {
			srv.err = err
			return
		}
	}
	srv.log = filepath.Join(srv.dir, "server.log")
	logFile, err := os.Create(srv.log)
	if err != nil {
		srv.err = err
		return
	}
	defer logFile.Close() // the server has its own copy
	as := func(cmd *exec.Cmd) *exec.Cmd {
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Setpgid: true}
		cmd.Stdout, cmd.Stderr = logFile, logFile
		return cmd
	}
	data := filepath.Join(srv.dir, "data")
	if err := as(exec.Command(initdb, "-D", data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync", "--no-instructions")).Run(); err != nil {
		srv.err = fmt.Errorf("initdb: %w", err)
		return
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		srv.err = err
		return
	}
	srv.port = l.Addr().(*net.TCPAddr).Port
	l.Close()
	srv.cmd = as(exec.Command(postgres, "-D", data, "-p", strconv.Itoa(srv.port), "-k", srv.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off"))
	if err := srv.cmd.Start(); err != nil {
		srv.err = fmt.Errorf("postgres: %w", err)
		srv.cmd = nil
		return
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		conn, err := pgx.Connect(ctx, srv.url("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return
		}
		if time.Now().After(deadline) {
			srv.err = fmt.Errorf("the server did not accept connections within a minute: %w", err)
			return
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}

// Exec runs SQL on a database.
func Exec(t testing.TB, db, sql string) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// Rows returns the rows of a query in its order, each as its columns'
// values joined by " | ": NULL for null, times in RFC 3339 (UTC).
func Rows(t testing.TB, db, sql string) []string {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, db)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	rows, err := conn.Query(ctx, sql)
	if err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		vals, err := rows.Values()
		if err != nil {
			t.Fatal(err)
		}
		var cols []string
		for _, v := range vals {
			switch x := v.(type) {
			case nil:
				cols = append(cols, "NULL")
			case time.Time:
				cols = append(cols, x.UTC().Format(time.RFC3339))
			default:
				cols = append(cols, fmt.Sprint(x))
			}
		}
		out = append(out, strings.Join(cols, " | "))
	}
	if err := rows.Err(); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return out
}
