// Package ui holds the Fyne screens, one file per screen, each a small struct that builds its
// widget tree. Screens talk to small interfaces declared here, which the library satisfies or the
// app adapts it to, never to the engine's insides; a run's events come as trainer/run's Event, the
// type of the event protocol (docs/events.md). Slow work runs through a Runner, and reaches
// widgets only on the UI goroutine (fyne.Do).
package ui
