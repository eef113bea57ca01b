package devops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/dittonats/dittonats/services/internal/dittoconf"
)

// The values of a common.commands:modifyConfig piggyback, read as HOCON
// reads them: the services that take the command (search's background
// sync, the entity services' cleanup) read their settings with these.

// ConfigInt reads a HOCON int: a whole JSON number (5 or 5.0) or a string
// holding one, within the range of a Java int.
func ConfigInt(raw json.RawMessage) (int, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	var text string
	switch v := v.(type) {
	case json.Number:
		text = v.String()
	case string:
		text = strings.TrimSpace(v)
	default:
		return 0, fmt.Errorf("%s is not a number", raw)
	}
	n, err := strconv.ParseInt(text, 10, 32)
	if err != nil {
		f, ferr := strconv.ParseFloat(text, 64)
		if ferr != nil || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
			return 0, fmt.Errorf("%s is not an int", raw)
		}
		n = int64(f)
	}
	return int(n), nil
}

// ConfigDuration reads a HOCON duration: a string as
// dittoconf.ParseDuration reads it ("5m"), or a JSON number of
// milliseconds.
func ConfigDuration(raw json.RawMessage) (time.Duration, error) {
	var v any
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		return 0, err
	}
	switch v := v.(type) {
	case json.Number:
		return dittoconf.ParseDuration(v.String())
	case string:
		return dittoconf.ParseDuration(v)
	}
	return 0, fmt.Errorf("%s is not a duration", raw)
}
