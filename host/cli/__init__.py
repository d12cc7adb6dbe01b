"""The IOS command line: word-by-word parsing (:mod:`.cursor`), command trees and modes
(:mod:`.tree`, :mod:`.modes`), sessions (:mod:`.session`) and the exec command registry where
other layers add commands (:mod:`.registry`)."""
