// Package mqtttest runs a real MQTT broker for tests: Debian's mosquitto
// (which .ci/toolchains installs) on a free loopback port, stopped when
// the test ends.
package mqtttest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// Config is the broker's configuration besides its listener: a
// persistent session may hold many unacknowledged messages in flight and
// many queued while its client is away (mosquitto's defaults, 20 and 1000,
// would drop the rest), as a broker for wstream's mqtt source should.
const Config = `allow_anonymous true
persistence false
max_inflight_messages 1000
max_queued_messages 100000
`

// Broker starts mosquitto and returns its address, HOST:PORT. Without
// mosquitto installed the test is skipped, or fails under CI.
func Broker(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("mosquitto")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/mosquitto"); serr == nil {
			bin = "/usr/sbin/mosquitto"
		} else if os.Getenv("CI") != "" {
			t.Fatal("mosquitto is not installed; .ci/toolchains installs it (apt-get install mosquitto)")
		} else {
			t.Skip("mosquitto is not installed (apt-get install mosquitto)")
		}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	conf := filepath.Join(t.TempDir(), "mosquitto.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf("listener %d 127.0.0.1\n%s", port, Config)), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(conf), 0o755); err != nil { // mosquitto drops root for its own user
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	logPath := filepath.Join(filepath.Dir(conf), "mosquitto.log")
	out, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer out.Close()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logPath)
			t.Fatalf("mosquitto did not start: %v\n%s", err, log)
		}
		time.Sleep(10 * time.Millisecond) // polling an external process
	}
}
