package tui

// FrameRate is the frame rate programs should run at (tea.WithFPS), locally
// and under `reauth serve`. Bubble Tea writes output only on its frame
// ticker, so a new program's first frame, and every widget event, waits up
// to one tick: 8 ms at 120 fps instead of 17 ms at the default 60. An idle
// program's tick finds nothing changed and writes nothing; 200 idle SSH
// sessions at 120 fps cost about 0.2 of a core here (BENCHMARKS.md, 4).
const FrameRate = 120
