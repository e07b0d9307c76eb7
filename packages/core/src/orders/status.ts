/** Where an order stands, and why a rejected one was: the words the scripts store and the API shows. */
export type OrderStatus = 'queued' | 'confirmed' | 'rejected';
export type RejectReason = 'sold_out' | 'limit_exceeded' | 'processing_failed';

export type Decision = { status: 'confirmed' } | { status: 'rejected'; reason: RejectReason };
