# Distributed core: the HDF5 store and the same numbers at any -np.
df_test_exe(test_h5store test_h5store.c)
df_test(h5store_np1 1 $<TARGET_FILE:test_h5store>)
df_test(h5store_np2 2 $<TARGET_FILE:test_h5store>)
df_test_exe(test_partition test_partition.c)
df_test(partition 0 $<TARGET_FILE:test_partition>)
