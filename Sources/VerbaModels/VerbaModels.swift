// VerbaModels: safetensors-backed transformer models (BERT encoder, GPT-2 decoder), their
// configurations, sampling, generation and training. See docs/ARCHITECTURE.md for the data flow.
import VerbaTensor
import VerbaTokenizers
