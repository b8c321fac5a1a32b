// Package app wires the desktop application together: the window and its menu, the library held
// open for the app's lifetime, the engine supervisor that starts `qlora` as a child process for
// each run, reads its events, has the library index them, stops and kills runs and adopts runs
// left behind by an earlier app; the bridge that hands engine news and GPU readings to the UI with
// fyne.Do; and the adapters that fit the library to the screens' interfaces. It holds no training
// code: the engine never runs inside the window's process.
package app
