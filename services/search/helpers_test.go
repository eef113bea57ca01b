package search_test

import (
	"fmt"
	"io"
	"log/slog"
	"os"
)

func errorf(format string, args ...any) error { return fmt.Errorf(format, args...) }

func testLog() *slog.Logger {
	if os.Getenv("SEARCH_TEST_DEBUG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}
