# The sample instance uses every reference and secret place of the model:
# a kind or reference added to the model needs a document that uses it.
# The one place left out: runbooks have no channels, so the channel
# restriction that runbook processes share with deployment processes has
# nothing to name.
new_acme a
om-store usage --db dbname=a >usage.txt
awk -F '\t' '$1 == 0 { print "unused:", $2, $3, $4 }' usage.txt
test "$(awk -F '\t' '$3 == "ref" { n += $1 } END { print n }' usage.txt)" -gt 1000
