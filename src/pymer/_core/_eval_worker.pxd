# The second thread of one evaluation (see _eval_worker.pyx): a persistent POSIX thread
# per PLS core, handed one task at a time under a mutex and condition variables.

cdef extern from "<pthread.h>" nogil:
    ctypedef struct pthread_t:
        pass
    ctypedef struct pthread_mutex_t:
        pass
    ctypedef struct pthread_cond_t:
        pass

ctypedef void (*task_fn)(void *arg) noexcept nogil


cdef struct EvalWorker:
    pthread_t thread
    pthread_mutex_t mu
    pthread_cond_t go           # signalled when a task is posted (or stop set)
    pthread_cond_t done         # signalled when the task has run
    task_fn fn
    void *arg
    int pending                 # a task posted and not yet finished
    int stop
    int pid                     # the process that started the thread (a fork's child has none)


cdef EvalWorker *worker_new() noexcept nogil
cdef EvalWorker *worker_live(EvalWorker *w) noexcept nogil
cdef void worker_post(EvalWorker *w, task_fn fn, void *arg) noexcept nogil
cdef void worker_wait(EvalWorker *w) noexcept nogil
cdef void worker_free(EvalWorker *w) noexcept nogil
