package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"

	"github.com/wstream/wstream/host/mqtt/mqtttest"
)

// TestMQTTMessagesSurviveRestarts publishes 3000 messages at QoS 1 while
// the binary reading them (a persistent session, acknowledging after each
// commit) is killed with SIGKILL and restarted, some of the messages
// published while it is down. Every message must reach the output: at
// least once (a message committed but not yet acknowledged when the
// process died comes again).
func TestMQTTMessagesSurviveRestarts(t *testing.T) {
	if testing.Short() {
		t.Skip("kill loop: skipped in -short mode")
	}
	addr := mqtttest.Broker(t)
	bin := buildBinary(t)
	plugin := conformancePlugin(t)
	dir := t.TempDir()
	pipeline := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipeline, []byte(fmt.Sprintf(`plugin: %s
batch: 20ms
checkpoint: ckpt
source: mqtt://%s/devices/+/readings?client=wstream-readings
stages: [{op: map, fn: identity}]
sink: jsonl:out.jsonl
`, plugin, addr)), 0o644)

	// Each run logs to its own file, read while it runs.
	runs := 0
	start := func() (*exec.Cmd, chan error, func() string) {
		runs++
		logPath := filepath.Join(dir, fmt.Sprintf("run%d.log", runs))
		logFile, err := os.Create(logPath)
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "run", "--pipeline", pipeline)
		cmd.Stderr = logFile
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait(); logFile.Close() }()
		return cmd, done, func() string { b, _ := os.ReadFile(logPath); return string(b) }
	}
	// The session exists once the first run has subscribed: from then on
	// the broker keeps what the topic gets, running or not.
	cmd, done, stderr := start()
	// subscribed waits until the run has subscribed (its signal handler is
	// set by then).
	subscribed := func() {
		for !strings.Contains(stderr(), "persistent session") {
			select {
			case err := <-done:
				t.Fatalf("run ended: %v\n%s", err, stderr())
			case <-time.After(20 * time.Millisecond): // polling the process's log
			}
		}
	}
	subscribed()

	const messages = 3000
	var published atomic.Int64
	pubDone := make(chan error, 1)
	go func() {
		c := paho.NewClient(paho.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("publisher"))
		if tok := c.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
			pubDone <- fmt.Errorf("publisher: %v", tok.Error())
			return
		}
		defer c.Disconnect(100)
		for i := 0; i < messages; i++ {
			tok := c.Publish(fmt.Sprintf("devices/d%d/readings", i%7), 1, false, fmt.Sprintf("m-%04d", i))
			if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
				pubDone <- fmt.Errorf("publish %d: %v", i, tok.Error())
				return
			}
			published.Add(1)
			if i%100 == 0 {
				time.Sleep(30 * time.Millisecond) // a device's pace, so that kills land while it publishes
			}
		}
		pubDone <- nil
	}()

	rng := rand.New(rand.NewSource(5))
	kills := 0
	for kills < 5 {
		select {
		case err := <-done:
			t.Fatalf("run ended: %v\n%s", err, stderr())
		case <-time.After(time.Duration(100+rng.Intn(300)) * time.Millisecond):
		}
		cmd.Process.Signal(syscall.SIGKILL)
		<-done
		kills++
		time.Sleep(time.Duration(rng.Intn(200)) * time.Millisecond) // down for a while: messages wait in the session
		cmd, done, stderr = start()
	}
	if err := <-pubDone; err != nil {
		t.Fatal(err)
	}
	// Wait until everything published is in the output, then stop.
	deadline := time.Now().Add(2 * time.Minute)
	var count map[string]int
	for {
		count = readRecords(t, filepath.Join(dir, "out.jsonl"))
		if len(count) == messages || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // polling the output file
	}
	subscribed() // everything may have arrived before the last restart
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, stderr())
	}
	count = readRecords(t, filepath.Join(dir, "out.jsonl"))
	var missing []string
	twice := 0
	for i := 0; i < messages; i++ {
		switch n := count[fmt.Sprintf("m-%04d", i)]; {
		case n == 0:
			missing = append(missing, fmt.Sprintf("m-%04d", i))
		case n > 1:
			twice++
		}
	}
	if len(missing) > 0 {
		t.Fatalf("after %d kills, %d of %d messages are missing (first: %v)", kills, len(missing), messages, missing[:min(5, len(missing))])
	}
	t.Logf("%d kills: all %d messages arrived, %d of them more than once (at least once)", kills, messages, twice)
}

// readRecords counts the string records of a jsonl: output.
func readRecords(t *testing.T, path string) map[string]int {
	count := map[string]int{}
	b, err := os.ReadFile(path)
	if err != nil {
		return count
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var batch struct{ Records []string }
		if json.Unmarshal(sc.Bytes(), &batch) != nil {
			continue // a line being written
		}
		for _, r := range batch.Records {
			count[r]++
		}
	}
	return count
}
