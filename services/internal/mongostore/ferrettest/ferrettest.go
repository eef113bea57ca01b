package ferrettest

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/FerretDB/FerretDB/ferretdb"
)

// newMu serializes ferretdb.New, which writes a package-level variable of
// FerretDB's (its version info) and so races when tests start instances in
// parallel.
var newMu sync.Mutex

// Start starts FerretDB 1.24 on 127.0.0.1 with a random port, storing its
// SQLite files in t.TempDir(), and returns its mongodb:// URI (no database in
// the path). FerretDB stops when t's cleanup runs. Only its errors are
// logged (to stderr): its warnings include one per client disconnect, as it
// lacks the endSessions command.
func Start(t testing.TB) string {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	newMu.Lock()
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: "127.0.0.1:0"},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + t.TempDir() + "/",
	})
	newMu.Unlock()
	if err != nil {
		t.Fatalf("start FerretDB: %v", err)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // only ever returns nil, when ctx ends
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	// MongoDBURI waits until Run has its listener up.
	return strings.TrimSuffix(f.MongoDBURI(), "/")
}
