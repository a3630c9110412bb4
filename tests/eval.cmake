# Evaluation: task files, continuation scoring against transformers, the eval CLI end to end.
df_test_exe(test_tasks test_tasks.c)
df_test(tasks 0 $<TARGET_FILE:test_tasks>)
df_test_exe(test_loglik test_loglik.c)
df_test(loglik_np1 1 $<TARGET_FILE:test_loglik> 1)
df_test(loglik_np2_pipeline 2 $<TARGET_FILE:test_loglik> 2)
df_test(loglik_np2_data 2 $<TARGET_FILE:test_loglik> 1)
