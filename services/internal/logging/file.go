package logging

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// fileSink writes lines to the file of the current period of a pattern,
// as logback's RollingFileAppender with a TimeBasedRollingPolicy does:
// when the period changes (checked on every line, with the injected
// clock) it closes the file and opens the new period's; its worker then
// gzips the closed file (when the pattern ends in .gz) and deletes the
// oldest rolled files beyond maxHistory files or totalCap bytes (the
// current file counts toward the total but is never deleted).
type fileSink struct {
	pat        *pattern
	maxHistory int   // 0: no limit
	totalCap   int64 // 0: no limit
	now        func() time.Time
	warn       *warner
	dropped    atomic.Uint64

	// mu guards f, active and closed, and orders sends on work with its
	// close.
	mu     sync.Mutex
	f      *os.File
	active string // path of f
	closed bool

	// work asks the worker goroutine for housekeeping; done is closed
	// when it has exited.
	work chan housekeeping
	done chan struct{}
}

// housekeeping is one request to the worker: compress rolled files, then,
// with limits, apply maxHistory and totalCap; reply (if set) is closed
// when done.
type housekeeping struct {
	limits bool
	reply  chan struct{}
}

// newFileSink opens the current file (creating its directory) and starts
// the worker, which at once compresses files of earlier periods left
// uncompressed (a process that stopped before compressing) and, with
// cleanOnStart, applies the limits.
func newFileSink(pat *pattern, maxHistory int, totalCap int64, cleanOnStart bool, now func() time.Time, warn *warner) (*fileSink, error) {
	s := &fileSink{pat: pat, maxHistory: maxHistory, totalCap: totalCap, now: now, warn: warn,
		work: make(chan housekeeping, 8), done: make(chan struct{})}
	name := pat.active(now())
	f, err := openLog(name)
	if err != nil {
		return nil, err
	}
	s.f, s.active = f, name
	go s.worker()
	s.work <- housekeeping{limits: cleanOnStart}
	return s, nil
}

func openLog(name string) (*os.File, error) {
	if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	f, err := os.OpenFile(name, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("log file: %w", err)
	}
	return f, nil
}

// writeLine appends line to the current period's file, rolling over
// first when the period changed. A line that cannot be written is
// counted as dropped (with a rate-limited warning).
func (s *fileSink) writeLine(line []byte) {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.dropped.Add(1)
		return
	}
	if name := s.pat.active(now); name != s.active || s.f == nil {
		rolled := s.active != "" && name != s.active
		if s.f != nil {
			s.f.Close()
			s.f = nil
		}
		s.active = name
		if rolled {
			select {
			case s.work <- housekeeping{limits: true}:
			default: // the worker is behind; what it does next covers this file too
			}
		}
		f, err := openLog(name)
		if err != nil {
			s.failed(err)
			return
		}
		s.f = f
	}
	if _, err := s.f.Write(line); err != nil {
		s.failed(err)
	}
}

func (s *fileSink) failed(err error) {
	s.dropped.Add(1)
	if s.warn.allow("file") {
		s.warn.log.Warn("logging: log file not writable; lines are dropped", "err", err, "lines_dropped", s.dropped.Load())
	}
}

// close closes the current file and waits for the worker to finish what
// it was asked.
func (s *fileSink) close() error {
	s.mu.Lock()
	var err error
	if !s.closed {
		s.closed = true
		if s.f != nil {
			err = s.f.Close()
			s.f = nil
		}
		close(s.work)
	}
	s.mu.Unlock()
	<-s.done
	return err
}

// sync waits until the worker has done what it was asked before, then
// housekeeps once more (limits too); for tests.
func (s *fileSink) sync() {
	reply := make(chan struct{})
	s.work <- housekeeping{limits: true, reply: reply}
	<-reply
}

func (s *fileSink) worker() {
	defer close(s.done)
	for hk := range s.work {
		if err := s.housekeep(hk.limits); err != nil && s.warn.allow("file-housekeeping") {
			s.warn.log.Warn("logging: rolling log files", "err", err)
		}
		if hk.reply != nil {
			close(hk.reply)
		}
	}
}

// rolled is a file of an earlier period.
type rolled struct {
	path string
	t    time.Time
	size int64
}

// housekeep gzips the rolled files not yet compressed (when the pattern
// asks for it), then with limits deletes the oldest rolled files beyond
// maxHistory, then beyond totalCap. Only the worker calls it.
func (s *fileSink) housekeep(limits bool) error {
	var errs []error
	if s.pat.gz {
		files, _, err := s.list()
		if err != nil {
			return err
		}
		for _, r := range files {
			if filepath.Ext(r.path) != ".gz" {
				if err := gzipFile(r.path); err != nil {
					errs = append(errs, err)
				}
			}
		}
	}
	if !limits {
		return errors.Join(errs...)
	}
	files, activeSize, err := s.list()
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	if s.maxHistory > 0 && len(files) > s.maxHistory {
		for _, r := range files[:len(files)-s.maxHistory] {
			if err := os.Remove(r.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
		files = files[len(files)-s.maxHistory:]
	}
	if s.totalCap > 0 {
		total := activeSize
		for _, r := range files {
			total += r.size
		}
		for len(files) > 0 && total > s.totalCap {
			if err := os.Remove(files[0].path); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
			total -= files[0].size
			files = files[1:]
		}
	}
	return errors.Join(errs...)
}

// list returns the pattern's rolled files, oldest first (an uncompressed
// and a compressed file of one period are both listed), and the size of
// the current file.
func (s *fileSink) list() ([]rolled, int64, error) {
	s.mu.Lock()
	active := s.active
	s.mu.Unlock()
	entries, err := os.ReadDir(s.pat.dir)
	if err != nil {
		return nil, 0, err
	}
	loc := s.now().Location()
	var files []rolled
	var activeSize int64
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		t, _, ok := s.pat.match(e.Name(), loc)
		if !ok {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue // deleted meanwhile
		}
		path := filepath.Join(s.pat.dir, e.Name())
		if path == active {
			activeSize = info.Size()
			continue
		}
		files = append(files, rolled{path: path, t: t, size: info.Size()})
	}
	slices.SortStableFunc(files, func(a, b rolled) int {
		if c := a.t.Compare(b.t); c != 0 {
			return c
		}
		return cmpString(a.path, b.path)
	})
	return files, activeSize, nil
}

func cmpString(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// gzipFile compresses src into src.gz and removes src. An existing src.gz
// (the same period rolled twice, e.g. after a restart) gets src as one
// more gzip member, which readers decompress as one stream.
func gzipFile(src string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	dst := src + ".gz"
	var out *os.File
	tmp := ""
	if _, err := os.Stat(dst); err == nil {
		out, err = os.OpenFile(dst, os.O_WRONLY|os.O_APPEND, 0)
		if err != nil {
			return err
		}
	} else {
		out, err = os.CreateTemp(filepath.Dir(src), "."+filepath.Base(dst)+".tmp*")
		if err != nil {
			return err
		}
		tmp = out.Name()
	}
	zw := gzip.NewWriter(out)
	zw.Name = filepath.Base(src)
	_, err = io.Copy(zw, in)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err == nil && tmp != "" {
		if err = os.Chmod(tmp, 0o644); err == nil {
			err = os.Rename(tmp, dst)
		}
	}
	if err != nil {
		if tmp != "" {
			os.Remove(tmp)
		}
		return fmt.Errorf("compress %s: %w", src, err)
	}
	return os.Remove(src)
}
