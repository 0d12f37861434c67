"""Framework integrations: each module plugs the SDK into one training framework and imports
that framework itself, so `import mltrail` never does.

| module | what it gives | install |
|---|---|---|
| `mltrail.integrations.lightning` | `MltrailLogger`, a Lightning `Logger` | `lightning` |
| `mltrail.integrations.transformers` | `MltrailCallback`, a `TrainerCallback` | `transformers` |
| `mltrail.integrations.keras` | `MltrailCallback`, a Keras 3 callback | `keras` |
| `mltrail.integrations.torch` | `watch(model, run, every=N)`: gradient and weight norms | `torch` |

`pip install 'mltrail[integrations]'` installs the versions they are tested with. Each logs
through an `ActiveRun`: give it yours (`run=`), which it leaves open, or let it start one with
`start_run`'s arguments, which it finishes when training ends.
"""
