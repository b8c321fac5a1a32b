/*
Package storage is the library of QLoRA Studio: the models a user imported, their datasets, their
runs with configuration, plan, metric series, checkpoints and exports, their own presets and the
app's settings. It is recorded in a bbolt database, library.db, inside the library folder, with a
schema version. It knows nothing of the UI and does no training; it reads the engine's files (model
folders, dataset files, run folders) through the trainer packages.

# Basics

A Library is a folder:

	library.db        the database: records, metric series, paths, sizes and sha256 of files
	library.holder    who holds the database right now (pid, command, since), while one does
	models/           copied models and the NF4 base cached per model (one folder per model)
	datasets/         imported datasets, copied in (one folder per dataset)
	runs/             run folders the desktop app starts; Refresh adopts any that no record names
	backups/          the database as it was before each schema migration

Open checks the schema version (a library written by a newer version is refused with ErrNewerSchema
and left untouched), migrates an older one in a single transaction after backing it up, and finishes
or undoes whatever a killed process left half done. Every method then takes the database only for
its own short transactions: the library is never held during a copy, a quantization or a run.

Models are imported with AddModel (validated: config, tensors, tokenizer; then referenced in place or
copied), datasets with AddDataset (validated row by row, copied, measured with a model's tokenizer).
Runs are recorded with RecordRun before they start and indexed from their folder afterwards:
Refresh reads what metrics.jsonl gained since the byte offset it last indexed, so a run's metrics can
be read by step or time with Series and EvalSeries, and adopts the runs whose process died.

# Caveats

One process writes at a time: bbolt locks the file. A process that finds it locked waits up to
Options.Timeout (2 s by default) and then fails with a *BusyError naming the holder from
library.holder (or, on Linux, from /proc). A process that keeps its Library open with
Options.KeepOpen (the desktop app) holds the lock for as long as it is open, except while it lends
the database to a command that records in the library itself (Lend).

Big files never go into the database. A model imported by reference stays where it is; its files'
sizes and modification times are recorded and checked before it is used, so a changed model is
refused (ErrChanged) rather than silently trained on.

Imports and removals are made safe against kills by a pending list in the database: the folders an
import will write are registered before it writes them and unregistered in the transaction that
records the import, so a kill at any instant leaves either the whole import or, after the next Open,
nothing. Liveness of a process is judged by its pid on this host; a reused pid can delay that
clean-up until the pid is free again.

Values returned by methods are copies, safe to keep after the transaction that read them.
*/
package storage
