// Package app wires the desktop application together: settings, the library, and the engine
// supervisor that starts `qlora` as a child process for each run, reads its events, and adopts runs
// left behind by a crash. It holds no training code; the engine never runs inside the window's process.
package app
