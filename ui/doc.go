// Package ui holds the Fyne screens, one file per screen. Screens talk to small interfaces declared
// here, never to the engine's insides or the database directly, and background work reaches widgets
// only through fyne.Do.
package ui
