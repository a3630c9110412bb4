# Tokenizer: reference probes, the oracle (Hugging Face tokenizers through npm), parallel = serial,
# CLI round trips and errors.
df_test_exe(test_tok_probes test_tok_probes.c)
df_test(tok_probes 0 $<TARGET_FILE:test_tok_probes>)
