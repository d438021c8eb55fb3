package tui

import (
	"strings"
	"testing"

	"github.com/charmbracelet/x/ansi"
	"github.com/skip2/go-qrcode"
)

// readQR turns half-block lines back into modules (true: dark), undoing
// qrLines' polarity for a dark or light terminal.
func readQR(lines []string, dark bool) [][]bool {
	var rows [][]bool
	for _, l := range lines {
		var top, bottom []bool
		for _, r := range l {
			t, b := r == '█' || r == '▀', r == '█' || r == '▄'
			top, bottom = append(top, t != dark), append(bottom, b != dark)
		}
		rows = append(rows, top, bottom)
	}
	return rows
}

// sameModules reports whether got (with a quiet zone of light modules
// around it) holds want exactly.
func sameModules(got, want [][]bool) bool {
	n := len(want)
	for m := 1; m <= 2; m++ {
		if len(got) < n+2*m || len(got[0]) != n+2*m {
			continue
		}
		ok := true
		for y := range n + 2*m {
			for x := range n + 2*m {
				w := y >= m && y < n+m && x >= m && x < n+m && want[y-m][x-m]
				if got[y][x] != w {
					ok = false
				}
			}
		}
		if ok {
			return true
		}
	}
	return false
}

func qrBitmap(t *testing.T, text string) [][]bool {
	t.Helper()
	q, err := qrcode.New(text, qrcode.Low)
	if err != nil {
		t.Fatal(err)
	}
	q.DisableBorder = true
	return q.Bitmap()
}

// A link as the page server makes them (id and secret from crypto/rand,
// base64url) fits as a QR code in 80×24's body, either way round.
func TestQRLinesRoundTrip(t *testing.T) {
	u := "https://reauth.support.example.com/s/" + strings.Repeat("A", 22) + "#" + strings.Repeat("b", 43)
	for _, dark := range []bool{true, false} {
		lines, ok := qrLines(u, dark, 78, 21)
		if !ok {
			t.Fatalf("a %d-byte link does not fit 78×21", len(u))
		}
		for _, l := range lines {
			if ansi.StringWidth(l) > 78 {
				t.Fatalf("line %d cells wide", ansi.StringWidth(l))
			}
		}
		if !sameModules(readQR(lines, dark), qrBitmap(t, u)) {
			t.Fatalf("dark=%v: the drawn code is not the link's", dark)
		}
	}
	if _, ok := qrLines(strings.Repeat("x", 400), true, 78, 21); ok {
		t.Fatal("a 400-byte text claimed to fit 78×21")
	}
}

// p shows the page link as a QR code (only on request: it carries the page
// secret), inside 80×24 with the pairing code; p again hides it.
func TestQRCodeOfTheLinkOnRequest(t *testing.T) {
	h := newHarness(t, harnessOpts{width: 80, height: 24, dark: true})
	openWrongOTP(t, h)
	if h.m.keys.ShowQR.Enabled() {
		t.Fatal("p offered before there is a link")
	}
	h.mintAndOpenPage()
	if strings.ContainsAny(plain(h.m), "▀▄") {
		t.Fatalf("a QR code before p:\n%s", plain(h.m))
	}
	h.key("p")
	v := plain(h.m)
	lines := strings.Split(v, "\n")
	if len(lines) != 24 {
		t.Fatalf("%d lines", len(lines))
	}
	var qr []string
	for _, l := range lines {
		if w := ansi.StringWidth(l); w > 80 {
			t.Fatalf("line %d cells wide: %q", w, l)
		}
		if strings.ContainsAny(l, "▀▄█") {
			qr = append(qr, strings.TrimRight(strings.TrimSpace(l), " "))
		}
	}
	if !strings.Contains(v, "Code K7-Q2") || !strings.Contains(v, "? help") || !strings.Contains(v, "esc back") {
		t.Fatalf("the QR view lost the code or the footer:\n%s", v)
	}
	// The code is drawn with the quiet zone in the foreground (dark
	// terminal): trimming spaces leaves it whole.
	if !sameModules(readQR(qr, true), qrBitmap(t, h.m.session.sess.PageURL())) {
		t.Fatalf("the code on screen is not the page link's:\n%s", v)
	}
	h.key("p")
	if strings.ContainsAny(plain(h.m), "▀▄") {
		t.Fatal("p did not hide the code")
	}
}
