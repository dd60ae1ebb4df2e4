# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True, initializedcheck=False
"""The second thread of one evaluation of the PLS core (its eval_threads = 2).

The evaluation runs without the GIL, inside the compiled optimizer too, so its helper is
a native thread: one persistent POSIX thread per core, created when the core is told to
use two threads and joined when it is freed. The evaluating thread posts one task at a
time (a function and its argument), runs its own share, then waits for the task to
finish. Both hand-overs block on condition variables: an idle helper sleeps (no
spinning: the machine may be shared, see _blas_threads.py). The helper runs BLAS on
itself alone (_blas_local.blas_single), like every dense kernel of the core.

The tasks (_blocked.pyx) split work whose outputs are disjoint and whose every entry is
computed by the same operations in the same order as on one thread, so the answers are
bitwise the same with one thread or two.

A process forked from one whose core has a helper (multiprocessing's fork start method)
inherits the worker's memory but not its thread: there :func:`worker_live` is NULL (the
child evaluates on one thread) and :func:`worker_free` only frees the memory.
"""
from libc.stdlib cimport malloc, free
from posix.unistd cimport getpid
from pymer._core._blas_local cimport blas_single

cdef extern from "<pthread.h>" nogil:
    int pthread_create(pthread_t *thread, const void *attr, void *(*start)(void *) noexcept nogil,
                       void *arg)
    int pthread_join(pthread_t thread, void **retval)
    int pthread_mutex_init(pthread_mutex_t *m, const void *attr)
    int pthread_mutex_destroy(pthread_mutex_t *m)
    int pthread_mutex_lock(pthread_mutex_t *m)
    int pthread_mutex_unlock(pthread_mutex_t *m)
    int pthread_cond_init(pthread_cond_t *c, const void *attr)
    int pthread_cond_destroy(pthread_cond_t *c)
    int pthread_cond_wait(pthread_cond_t *c, pthread_mutex_t *m)
    int pthread_cond_signal(pthread_cond_t *c)


cdef void *_serve(void *arg) noexcept nogil:
    """The helper's loop: sleep until a task is posted, run it, report it done."""
    cdef EvalWorker *w = <EvalWorker *> arg
    cdef int saved[4]
    cdef task_fn fn
    cdef void *targ
    blas_single(saved)
    pthread_mutex_lock(&w.mu)
    while True:
        while not w.pending and not w.stop:
            pthread_cond_wait(&w.go, &w.mu)
        if w.stop:
            break
        fn = w.fn
        targ = w.arg
        pthread_mutex_unlock(&w.mu)
        fn(targ)
        pthread_mutex_lock(&w.mu)
        w.pending = 0
        pthread_cond_signal(&w.done)
    pthread_mutex_unlock(&w.mu)
    return NULL


cdef EvalWorker *worker_new() noexcept nogil:
    """A helper thread, sleeping until a task is posted; NULL when it cannot be started."""
    cdef EvalWorker *w = <EvalWorker *> malloc(sizeof(EvalWorker))
    if w == NULL:
        return NULL
    w.pending = 0
    w.stop = 0
    w.pid = <int> getpid()
    w.fn = NULL
    w.arg = NULL
    pthread_mutex_init(&w.mu, NULL)
    pthread_cond_init(&w.go, NULL)
    pthread_cond_init(&w.done, NULL)
    if pthread_create(&w.thread, NULL, _serve, <void *> w) != 0:
        pthread_cond_destroy(&w.done)
        pthread_cond_destroy(&w.go)
        pthread_mutex_destroy(&w.mu)
        free(w)
        return NULL
    return w


cdef EvalWorker *worker_live(EvalWorker *w) noexcept nogil:
    """w, or NULL when there is none or this process is a fork's child (its helper thread
    was not copied)."""
    if w == NULL or w.pid != <int> getpid():
        return NULL
    return w


cdef void worker_post(EvalWorker *w, task_fn fn, void *arg) noexcept nogil:
    """Hand fn(arg) to the helper (which must be idle: every post is followed by a wait)."""
    pthread_mutex_lock(&w.mu)
    w.fn = fn
    w.arg = arg
    w.pending = 1
    pthread_cond_signal(&w.go)
    pthread_mutex_unlock(&w.mu)


cdef void worker_wait(EvalWorker *w) noexcept nogil:
    """Block until the posted task has run."""
    pthread_mutex_lock(&w.mu)
    while w.pending:
        pthread_cond_wait(&w.done, &w.mu)
    pthread_mutex_unlock(&w.mu)


cdef void worker_free(EvalWorker *w) noexcept nogil:
    """Stop the helper (after its task, if any), join it and free it."""
    if w == NULL:
        return
    if w.pid != <int> getpid():      # a fork's child: no thread to stop, its lock state unknown
        free(w)
        return
    worker_wait(w)
    pthread_mutex_lock(&w.mu)
    w.stop = 1
    pthread_cond_signal(&w.go)
    pthread_mutex_unlock(&w.mu)
    pthread_join(w.thread, NULL)
    pthread_cond_destroy(&w.done)
    pthread_cond_destroy(&w.go)
    pthread_mutex_destroy(&w.mu)
    free(w)
