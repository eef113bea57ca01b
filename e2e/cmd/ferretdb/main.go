// Command ferretdb runs an embedded FerretDB 1.24 (SQLite back end) as a
// process of its own, so the end-to-end tests can run the services against
// the MongoDB wire protocol on a machine without a MongoDB server. It is a
// test tool: no service binary links FerretDB.
//
// It prints its MongoDB URI on a line of its own once it accepts
// connections, and stops cleanly on SIGTERM or SIGINT.
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	dir := flag.String("dir", "", "directory of the SQLite files (required)")
	listen := flag.String("listen", "127.0.0.1:27017", "TCP address to accept MongoDB connections on")
	flag.Parse()
	if *dir == "" {
		fmt.Fprintln(os.Stderr, "ferretdb: -dir is required")
		os.Exit(2)
	}
	if err := os.MkdirAll(*dir, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	// FerretDB warns once per client disconnect (it lacks endSessions);
	// only its errors are worth a line.
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	f, err := ferretdb.New(&ferretdb.Config{
		Listener:  ferretdb.ListenerConfig{TCP: *listen},
		Logger:    logger,
		Handler:   "sqlite",
		SQLiteURL: "file:" + strings.TrimSuffix(*dir, "/") + "/",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "ferretdb:", err)
		os.Exit(1)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = f.Run(ctx) // returns when ctx ends
	}()
	// MongoDBURI blocks until the listener is up.
	fmt.Println(strings.TrimSuffix(f.MongoDBURI(), "/"))
	<-done
}
