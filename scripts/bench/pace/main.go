// Command pace is the fixed-rate load generator of scripts/bench/run.sh: HTTP/1.1 GETs sent at
// evenly spaced instants (open loop), round robin over keep-alive connections, each latency
// measured from the instant the request was due, not from when it could be sent, so a stalled
// server is charged for the requests that queued behind the stall (no coordinated omission).
//
// h2load --rps, which the benchmark used before, fires the timers of all its connections
// together: 8 connections at 250 req/s each are bursts of 8 simultaneous requests every 4 ms,
// whose p99 measures how long a proxy takes to serve 8 requests in a row as much as its latency.
//
// Output: one line per measured request in -log ("due time in us since the epoch, status,
// latency in us", tab-separated, as h2load --log-file writes them), and a summary on stdout:
//
//	rps 2000.00
//	requests 14000
//	errors 0
//
// It is its own module (not in go.work), like the bench origin, so that it builds with
// GOWORK=off and no dependencies.
package main

import (
	"bufio"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"
)

type result struct {
	due     time.Time
	status  int
	latency time.Duration
}

func main() {
	rawURL := flag.String("url", "", "http://127.0.0.1:port/path (loopback only)")
	host := flag.String("host", "", "Host header (default: the URL's host)")
	rate := flag.Int("rate", 2000, "requests per second, all connections together")
	conns := flag.Int("conns", 16, "keep-alive connections, used round robin")
	dur := flag.Duration("duration", 7*time.Second, "measured duration")
	warm := flag.Duration("warmup", time.Second, "unmeasured warm-up before it")
	logPath := flag.String("log", "", "per-request log file")
	flag.Parse()

	u, err := url.Parse(*rawURL)
	if err != nil || u.Scheme != "http" || u.Host == "" {
		log.Fatalf("pace: -url must be http://host:port/path, got %q", *rawURL)
	}
	if ip := net.ParseIP(u.Hostname()); ip == nil || !ip.IsLoopback() {
		log.Fatalf("pace: %s is not a loopback address", u.Hostname())
	}
	if *rate < 1 || *conns < 1 || *dur <= 0 || *warm < 0 {
		log.Fatal("pace: -rate, -conns and -duration must be positive")
	}
	if *host == "" {
		*host = u.Host
	}
	path := u.RequestURI()
	req := []byte("GET " + path + " HTTP/1.1\r\nHost: " + *host + "\r\nUser-Agent: pace\r\n\r\n")

	interval := time.Second / time.Duration(*rate)
	total := int((*warm + *dur) / interval)
	measuredFrom := int(*warm / interval)
	results := make([]result, total)

	// One goroutine per connection takes the indexes of the requests it is to send; a request due
	// while its connection still waits for the previous answer waits in the channel, and its
	// latency includes that wait.
	var wg sync.WaitGroup
	queues := make([]chan int, *conns)
	for c := range queues {
		queues[c] = make(chan int, total/(*conns)+1)
		wg.Add(1)
		go func(q <-chan int) {
			defer wg.Done()
			cl := &client{addr: u.Host, req: req}
			defer cl.close()
			for i := range q {
				status, err := cl.get()
				if err != nil {
					status = 0
				}
				results[i].status, results[i].latency = status, time.Since(results[i].due)
			}
		}(queues[c])
	}

	// Go's own timers wake up to a millisecond late when the process is idle (its poller waits
	// in whole milliseconds), which would be most of what is measured; a kernel timerfd read
	// through the poller wakes it on time.
	tick, start, err := newTicker(100*time.Millisecond, interval)
	if err != nil {
		log.Fatalf("pace: %v", err)
	}
	var buf [8]byte
	for next := 0; next < total; {
		if _, err := io.ReadFull(tick, buf[:]); err != nil {
			log.Fatalf("pace: read timerfd: %v", err)
		}
		// Expirations since the last read; more than one if this goroutine was late.
		for n := binary.LittleEndian.Uint64(buf[:]); n > 0 && next < total; n-- {
			results[next].due = start.Add(time.Duration(next) * interval)
			queues[next%*conns] <- next
			next++
		}
	}
	tick.Close()
	for _, q := range queues {
		close(q)
	}
	wg.Wait()
	elapsed := time.Since(start.Add(time.Duration(measuredFrom) * interval))

	var w io.Writer = io.Discard
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			log.Fatalf("pace: %v", err)
		}
		defer f.Close()
		bw := bufio.NewWriter(f)
		defer bw.Flush()
		w = bw
	}
	measured, failed := results[measuredFrom:], 0
	for _, r := range measured {
		fmt.Fprintf(w, "%d\t%d\t%d\n", r.due.UnixMicro(), r.status, r.latency.Microseconds())
		if r.status < 200 || r.status >= 400 {
			failed++
		}
	}
	fmt.Printf("rps %.2f\nrequests %d\nerrors %d\n", float64(len(measured))/elapsed.Seconds(), len(measured), failed)
}

// newTicker returns a timerfd that expires first after delay and then every interval, and the
// time of its first expiration.
func newTicker(delay, interval time.Duration) (*os.File, time.Time, error) {
	const clockMonotonic, tfdNonblock, tfdCloexec = 1, syscall.O_NONBLOCK, syscall.O_CLOEXEC
	fd, _, errno := syscall.Syscall(syscall.SYS_TIMERFD_CREATE, clockMonotonic, tfdNonblock|tfdCloexec, 0)
	if errno != 0 {
		return nil, time.Time{}, fmt.Errorf("timerfd_create: %w", errno)
	}
	spec := [2]syscall.Timespec{syscall.NsecToTimespec(int64(interval)), syscall.NsecToTimespec(int64(delay))}
	start := time.Now().Add(delay)
	if _, _, errno := syscall.Syscall6(syscall.SYS_TIMERFD_SETTIME, fd, 0, uintptr(unsafe.Pointer(&spec)), 0, 0, 0); errno != 0 {
		syscall.Close(int(fd))
		return nil, time.Time{}, fmt.Errorf("timerfd_settime: %w", errno)
	}
	return os.NewFile(fd, "timerfd"), start, nil
}

// client is one keep-alive connection, redialled after an error.
type client struct {
	addr string
	req  []byte
	conn net.Conn
	br   *bufio.Reader
}

func (c *client) close() {
	if c.conn != nil {
		c.conn.Close()
	}
}

// get sends the request and reads the response to its end; it returns the status (0 on error).
func (c *client) get() (int, error) {
	status, err := c.roundTrip()
	if err != nil {
		c.close()
		c.conn = nil
	}
	return status, err
}

func (c *client) roundTrip() (int, error) {
	if c.conn == nil {
		conn, err := net.DialTimeout("tcp", c.addr, 5*time.Second)
		if err != nil {
			return 0, err
		}
		c.conn, c.br = conn, bufio.NewReaderSize(conn, 64<<10)
	}
	if err := c.conn.SetDeadline(time.Now().Add(10 * time.Second)); err != nil {
		return 0, err
	}
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	line, err := c.br.ReadSlice('\n')
	if err != nil {
		return 0, err
	}
	if len(line) < 12 || !strings.HasPrefix(string(line[:9]), "HTTP/1.") {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, fmt.Errorf("bad status line %q", line)
	}
	length, chunked, closeAfter := int64(-1), false, false
	for {
		line, err := c.br.ReadSlice('\n')
		if err != nil {
			return 0, err
		}
		s := strings.TrimRight(string(line), "\r\n")
		if s == "" {
			break
		}
		name, value, _ := strings.Cut(s, ":")
		value = strings.TrimSpace(value)
		switch strings.ToLower(name) {
		case "content-length":
			if length, err = strconv.ParseInt(value, 10, 64); err != nil {
				return 0, err
			}
		case "transfer-encoding":
			chunked = strings.EqualFold(value, "chunked")
		case "connection":
			closeAfter = strings.EqualFold(value, "close")
		}
	}
	switch {
	case chunked:
		err = readChunked(c.br)
	case length >= 0:
		_, err = c.br.Discard(int(length))
	default:
		return 0, errors.New("response without a length")
	}
	if err == nil && closeAfter {
		c.close()
		c.conn = nil
	}
	return status, err
}

func readChunked(br *bufio.Reader) error {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		size, _, _ := strings.Cut(strings.TrimRight(string(line), "\r\n"), ";")
		n, err := strconv.ParseInt(size, 16, 64)
		if err != nil {
			return err
		}
		if n == 0 {
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return err
				}
				if len(strings.TrimRight(string(line), "\r\n")) == 0 {
					return nil
				}
			}
		}
		if _, err := br.Discard(int(n) + 2); err != nil {
			return err
		}
	}
}
