#include "models/kernels/kernels.h"
#include "models/transformer/transformer.h"
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
static double now(){struct timespec t;clock_gettime(CLOCK_MONOTONIC,&t);return t.tv_sec+t.tv_nsec*1e-9;}
static int cmpd(const void*a,const void*b){double x=*(double*)a,y=*(double*)b;return (x>y)-(x<y);}
int main(int argc,char**argv){
  const char*path=argv[1]; int thr=argc>2?atoi(argv[2]):2; int steps=argc>3?atoi(argv[3]):48;
  const char*ns=argc>4?argv[4]:"1,8"; int reps=argc>5?atoi(argv[5]):3;
  kernels_threads_set(thr);
  transformer*t; struct status_err e;
  if(transformer_open_gguf(path,&t,&e)){fprintf(stderr,"open fail\n");return 1;}
  transformer_set_kv_type(t,"f16",&e);
  transformer_batch*b=transformer_batch_new(t);
  int nlist[8],nn=0; for(const char*p=ns;*p;){nlist[nn++]=atoi(p); while(*p&&*p!=',')p++; if(*p)p++;}
  double res[8][16];
  for(int r=0;r<reps;r++) for(int q=0;q<nn;q++){
    int N=nlist[q];
    transformer_seq*s[64]; int id0[64][12]; const int*ids[64]; size_t n[64];
    for(int k=0;k<N;k++){s[k]=transformer_seq_new(t,1024); for(int j=0;j<12;j++) id0[k][j]=100+k*17+j*3; ids[k]=id0[k]; n[k]=12;}
    transformer_forward_multi(b,s,ids,n,N,&e);
    int tok[64];
    for(int k=0;k<N;k++){tok[k]=500+k; ids[k]=&tok[k]; n[k]=1;}
    for(int w=0;w<4;w++) transformer_forward_multi(b,s,ids,n,N,&e);
    double t0=now();
    for(int i=0;i<steps;i++){ for(int k=0;k<N;k++) tok[k]=(tok[k]*7+i)%30000+10; transformer_forward_multi(b,s,ids,n,N,&e);}
    res[q][r]=(now()-t0)/steps*1e3;
    for(int k=0;k<N;k++) transformer_seq_free(s[k]);
  }
  double med[8];
  for(int q=0;q<nn;q++){ qsort(res[q],reps,sizeof(double),cmpd); med[q]=res[q][reps/2]; }
  printf("%s thr=%d:", path, thr);
  for(int q=0;q<nn;q++) printf(" N=%d %.3f ms (%.2fx)", nlist[q], med[q], med[q]/med[0]);
  printf("  8/1 tok ratio=%.2f\n", nn>1? nlist[nn-1]*med[0]/med[nn-1]:0);
  return 0;
}
