package jobs

// Script hashes, for tests that inject faults into one script's runs (jobstest.Script).
var (
	FinishScriptSHA = finishScript.Hash()
	NoteScriptSHA   = noteScript.Hash()
)
