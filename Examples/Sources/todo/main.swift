import Foundation
import TodoCore

// `todo`: the commands live in TodoCore (tested in-process); `TodoCLI.runProcess()` wires the
// process: arguments, environment, standard streams, Ctrl-C, and the exit code.
exit(await TodoCLI.runProcess())
