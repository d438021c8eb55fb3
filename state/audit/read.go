package audit

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Filter selects records. Zero fields match everything.
type Filter struct {
	Account string    // exact account id (case-insensitive)
	Since   time.Time // records at or after this instant
}

func (f Filter) match(r Record) bool {
	if f.Account != "" && !strings.EqualFold(r.Account, f.Account) {
		return false
	}
	return f.Since.IsZero() || !r.Time.Before(f.Since)
}

// Warning is a line Read skipped.
type Warning struct {
	Line   int // 1-based
	Reason string
}

func (w Warning) String() string { return fmt.Sprintf("line %d: %s", w.Line, w.Reason) }

// ReadFile reads the log at path. See Read.
func ReadFile(path string, f Filter) ([]Record, []Warning, error) {
	file, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("audit: %w", err)
	}
	defer file.Close()
	return Read(file, f)
}

// Read returns the records matching f, in file order. A line that is not a
// whole record — torn by a crash mid-write, garbage, or too long — is skipped
// and reported as a Warning; it never fails the read. The error is only for
// the reader itself failing.
func Read(r io.Reader, f Filter) ([]Record, []Warning, error) {
	var recs []Record
	warns, err := scan(r, func(rec Record) bool {
		if f.match(rec) {
			recs = append(recs, rec)
		}
		return true
	})
	return recs, warns, err
}

// scan calls fn with each whole record of r, in order, until fn returns
// false; the lines Read would skip are skipped and returned as warnings.
func scan(r io.Reader, fn func(Record) bool) ([]Warning, error) {
	var (
		warns []Warning
		br    = bufio.NewReaderSize(r, 64<<10)
	)
	for n := 1; ; n++ {
		line, complete, tooLong, err := readLine(br)
		if err != nil {
			return warns, fmt.Errorf("audit: read line %d: %w", n, err)
		}
		if len(line) == 0 && !complete && !tooLong {
			return warns, nil // clean end of file
		}
		if tooLong {
			warns = append(warns, Warning{n, fmt.Sprintf("longer than %d bytes, skipped", maxLineBytes)})
			continue
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		rec, perr := parse(line)
		switch {
		case perr != nil && !complete:
			warns = append(warns, Warning{n, "incomplete last record skipped (the writer stopped mid-write)"})
		case perr != nil:
			warns = append(warns, Warning{n, "not a valid record, skipped: " + perr.Error()})
		case !fn(rec):
			return warns, nil
		}
		if !complete {
			return warns, nil
		}
	}
}

// readLine returns the next line without its newline. complete is false for
// a last line without a newline. A line over maxLineBytes is consumed and
// reported as tooLong without being kept in memory.
func readLine(br *bufio.Reader) (line []byte, complete, tooLong bool, err error) {
	for {
		chunk, err := br.ReadSlice('\n')
		if !tooLong {
			if len(line)+len(chunk) > maxLineBytes+1 {
				tooLong, line = true, nil
			} else {
				line = append(line, chunk...)
			}
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(line, []byte{'\n'}), true, tooLong, nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case errors.Is(err, io.EOF):
			return line, false, tooLong, nil
		default:
			return nil, false, false, err
		}
	}
}

func parse(line []byte) (Record, error) {
	var r Record
	if err := json.Unmarshal(line, &r); err != nil {
		return r, err
	}
	if r.Time.IsZero() || r.Action == "" {
		return r, errors.New("missing time or action")
	}
	return r, nil
}
